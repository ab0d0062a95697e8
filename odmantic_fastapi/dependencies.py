"""FastAPI integration: ``install(app)``, and the engine, session and transaction dependencies.

A request gets one session, and at most one transaction on it. Whether that
transaction commits is decided by the status the client receives, at the
moment the response starts and before any byte of it is sent: below 400 it
commits, otherwise it aborts (see :mod:`odmantic_fastapi.middleware`).

    app = FastAPI()
    odmantic_fastapi.install(app, models=[Account])

    @app.post("/transfers")
    async def transfer(body: TransferIn, tx: TransactionDep) -> TransferOut: ...

``def`` routes use ``SyncEngineDep``, ``SyncSessionDep`` and ``SyncTransactionDep``
(on a :class:`SyncEngine`), under the same rule. Websocket routes get
``EngineDep`` and ``SessionDep`` (a session for the connection's life).

``__all__`` here is the package's one list of FastAPI names: ``odmantic_fastapi``
re-exports exactly these, loading FastAPI only when one is first used.
"""

import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp

from .connect import Engines, open_engines
from .engine import AIOEngine, SyncEngine
from .http_errors import install_exception_handlers
from .middleware import (
    COMMIT_RETRY_SECONDS,
    WEBSOCKET_TRANSACTION,
    RequestDatabase,
    TransactionMiddleware,
)
from .model import Model
from .session import AIOSession, AIOTransaction, SyncSession, SyncTransaction
from .settings import MongoSettings

__all__ = [
    "EngineDep",
    "RetryingTransactionDep",
    "SessionDep",
    "SyncEngineDep",
    "SyncSessionDep",
    "SyncTransactionDep",
    "TransactionDep",
    "get_engine",
    "get_retrying_transaction",
    "get_session",
    "get_sync_engine",
    "get_sync_session",
    "get_sync_transaction",
    "get_transaction",
    "install",
    "install_exception_handlers",
]

_NOT_INSTALLED = (
    "{name} needs odmantic_fastapi's wiring: call odmantic_fastapi.install(app, ...) when you "
    "create the FastAPI app (and run the app's lifespan, e.g. with asgi-lifespan in tests), so "
    "the request's transaction is committed or aborted from the response status"
)
_ASYNC_IN_DEF = (
    "{where} is a `def` function but asks for {name}, an async {kind} it cannot await: make it "
    "`async def`, or use Sync{name} (a SyncEngine {kind}, committed by the same rule)"
)
_OUTSIDE_LAYER = (
    "odmantic_fastapi.install(): something wrapped the app's middleware stack after install() "
    "(app.build_middleware_stack was replaced), so a layer outside the transaction middleware "
    "could still change the status after the commit is decided. Add middleware with "
    "app.add_middleware() or @app.middleware('http') instead; those run inside it"
)

#: How many times RetryingTransactionDep runs a route that failed on a write conflict.
RETRY_ATTEMPTS = 3


def install(
    app: Any,
    *,
    models: Iterable[type[Model]] = (),
    settings: MongoSettings | None = None,
    engine_factory: Callable[[], AbstractAsyncContextManager[AIOEngine]] | None = None,
    exception_handlers: bool = True,
    commit_retry_seconds: float = COMMIT_RETRY_SECONDS,
) -> None:
    """Wire odmantic_fastapi into a FastAPI app: engine lifespan and transaction middleware.

    Call it once, when the app is created (before it starts). Settings default
    to the environment (MONGODB_URL, MONGODB_DATABASE, ...); the app's own
    lifespan still runs, inside the engine's. The transaction middleware wraps
    the app's whole middleware stack, so middleware and exception handlers
    added before or after ``install`` all run inside it, and the commit is
    decided on the status the client receives.

    Args:
        app: the FastAPI (or Starlette) application.
        models: models whose declared indexes are created at startup.
        settings: connection settings; read from the environment when omitted.
        engine_factory: an alternative way to open the engine (tests, custom clients);
            it gives no SyncEngine.
        exception_handlers: also install :func:`install_exception_handlers`.
        commit_retry_seconds: how long a commit with an unknown outcome is retried
            before the request is answered 503.

    Raises:
        RuntimeError: ``install`` was already called on this app; at startup, a
            layer was put outside the transaction middleware, or a route asks
            for a dependency it cannot use (an async session in a ``def`` route,
            a transaction in a websocket route).
    """
    if getattr(app.state, "odmantic_installed", False):
        raise RuntimeError("odmantic_fastapi.install() was already called on this app")
    app.state.odmantic_installed = True
    models = list(models)
    if exception_handlers:
        install_exception_handlers(app)
    build_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        # Outside ServerErrorMiddleware: its 500, and any catch-all handler's answer, is seen.
        return TransactionMiddleware(build_stack(), app.state, commit_budget=commit_retry_seconds)

    app.build_middleware_stack = build_middleware_stack
    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        if not isinstance(app_.middleware_stack, TransactionMiddleware):
            raise RuntimeError(_OUTSIDE_LAYER)
        check_routes(app_.router.routes)
        async with _opened(settings, models, engine_factory) as engines:
            app_.state.odmantic_engines = engines
            try:
                async with app_lifespan(app_) as inner_state:
                    yield inner_state
            finally:
                del app_.state.odmantic_engines

    app.router.lifespan_context = lifespan


@asynccontextmanager
async def _opened(
    settings: MongoSettings | None,
    models: list[type[Model]],
    engine_factory: Callable[[], AbstractAsyncContextManager[AIOEngine]] | None,
) -> AsyncIterator[Engines]:
    if engine_factory is None:
        async with open_engines(settings, models) as engines:
            yield engines
        return
    async with engine_factory() as engine:
        yield Engines(engine, None)


def _request_database(connection: HTTPConnection, name: str) -> RequestDatabase:
    state = connection.scope.get(RequestDatabase.SCOPE_KEY)
    if not isinstance(state, RequestDatabase):
        raise RuntimeError(_NOT_INSTALLED.format(name=name))
    return state


def _refuse_in_def_route(connection: HTTPConnection, name: str, kind: str) -> None:
    """A route added after startup escaped check_routes: refuse at its first request."""
    endpoint = connection.scope.get("endpoint")
    if endpoint is not None and not _is_async(endpoint):
        where = f"route {getattr(endpoint, '__qualname__', endpoint)}"
        raise RuntimeError(_ASYNC_IN_DEF.format(where=where, name=name, kind=kind))


async def get_engine(connection: HTTPConnection) -> AIOEngine:
    """The application's engine, opened by ``install``'s lifespan."""
    return _request_database(connection, "get_engine").engine


async def get_session(connection: HTTPConnection) -> AIOSession:
    """The request's session, started on first use, closed to use when the response starts.

    In a websocket route, a session that lasts as long as the connection.
    """
    _refuse_in_def_route(connection, "SessionDep", "session")
    return await _request_database(connection, "get_session").session()


async def get_transaction(connection: HTTPConnection) -> AIOTransaction:
    """The request's transaction: committed if the response status is below 400, else aborted."""
    _refuse_in_def_route(connection, "TransactionDep", "transaction")
    return await _request_database(connection, "get_transaction").transaction()


async def get_retrying_transaction(connection: HTTPConnection) -> AIOTransaction:
    """Like :func:`get_transaction`, for routes that are safe to run again from the start.

    On a write conflict (TransientTransactionError) the whole request, its
    dependencies included, runs again with its body replayed, up to
    ``RETRY_ATTEMPTS`` times, before the client sees anything. Use it only for
    routes whose only effects go through the transaction.
    """
    _refuse_in_def_route(connection, "RetryingTransactionDep", "transaction")
    state = _request_database(connection, "get_retrying_transaction")
    state.max_attempts = RETRY_ATTEMPTS
    return await state.transaction("RetryingTransactionDep")


def get_sync_engine(connection: HTTPConnection) -> SyncEngine:
    """The application's SyncEngine, for ``def`` routes (made on first use)."""
    return _request_database(connection, "get_sync_engine").sync_engine


def get_sync_session(connection: HTTPConnection) -> SyncSession:
    """The request's SyncEngine session, for ``def`` routes."""
    return _request_database(connection, "get_sync_session").sync_session()


def get_sync_transaction(connection: HTTPConnection) -> SyncTransaction:
    """The request's SyncEngine transaction: committed if the status is below 400, else aborted."""
    return _request_database(connection, "get_sync_transaction").sync_transaction()


EngineDep = Annotated[AIOEngine, Depends(get_engine)]
SessionDep = Annotated[AIOSession, Depends(get_session)]
TransactionDep = Annotated[AIOTransaction, Depends(get_transaction)]
RetryingTransactionDep = Annotated[AIOTransaction, Depends(get_retrying_transaction)]
SyncEngineDep = Annotated[SyncEngine, Depends(get_sync_engine)]
SyncSessionDep = Annotated[SyncSession, Depends(get_sync_session)]
SyncTransactionDep = Annotated[SyncTransaction, Depends(get_sync_transaction)]

# What each async dependency is called in errors, and what it gives.
_ASYNC_ONLY: dict[Callable[..., Any], tuple[str, str]] = {
    get_session: ("SessionDep", "session"),
    get_transaction: ("TransactionDep", "transaction"),
    get_retrying_transaction: ("RetryingTransactionDep", "transaction"),
}
_TRANSACTIONS: dict[Callable[..., Any], str] = {
    get_transaction: "TransactionDep",
    get_retrying_transaction: "RetryingTransactionDep",
    get_sync_transaction: "SyncTransactionDep",
}


def _is_async(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    dunder = getattr(call, "__call__", None)  # noqa: B004 -- a class instance used as a dependency
    return inspect.iscoroutinefunction(dunder) or inspect.isasyncgenfunction(dunder)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def check_routes(routes: Iterable[Any]) -> None:
    """Refuse, at startup, a route that asks for a dependency it cannot use.

    Raises:
        RuntimeError: a ``def`` route or dependency asks for an async session or
            transaction, or a websocket route asks for a transaction.
    """
    for route in routes:
        if isinstance(route, APIWebSocketRoute):
            for node in _dependants(route.dependant):
                if node.call in _TRANSACTIONS:
                    name = _TRANSACTIONS[node.call]
                    raise RuntimeError(
                        f"websocket route {route.path}: " + WEBSOCKET_TRANSACTION.format(name=name)
                    )
        elif isinstance(route, APIRoute):
            for node in _dependants(route.dependant):
                if node.call is None or _is_async(node.call):
                    continue
                for sub in node.dependencies:
                    if sub.call in _ASYNC_ONLY:
                        name, kind = _ASYNC_ONLY[sub.call]
                        where = (
                            f"route {sorted(route.methods or ())} {route.path}"
                            if node is route.dependant
                            else f"dependency {getattr(node.call, '__qualname__', node.call)}"
                        )
                        raise RuntimeError(_ASYNC_IN_DEF.format(where=where, name=name, kind=kind))
