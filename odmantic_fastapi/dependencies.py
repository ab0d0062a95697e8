"""FastAPI integration: ``install(app)``, and the get_engine/get_session/get_transaction dependencies.

A request gets one session, and at most one transaction on it. Whether that
transaction commits is decided by the response status, at the moment the
response starts and before any byte of it reaches the client: below 400 it
commits, otherwise it aborts (see :mod:`odmantic_fastapi.middleware`).

    app = FastAPI()
    odmantic_fastapi.install(app, models=[Account])

    @app.post("/transfers")
    async def transfer(body: TransferIn, tx: TransactionDep) -> TransferOut: ...

``__all__`` here is the package's one list of FastAPI names: ``odmantic_fastapi``
re-exports exactly these, loading FastAPI only when one is first used.
"""

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request

from .connect import open_engine
from .engine import AIOEngine
from .http_errors import install_exception_handlers
from .middleware import RequestDatabase, TransactionMiddleware
from .model import Model
from .session import AIOSession, AIOTransaction
from .settings import MongoSettings

__all__ = [
    "EngineDep",
    "RetryingTransactionDep",
    "SessionDep",
    "TransactionDep",
    "get_engine",
    "get_retrying_transaction",
    "get_session",
    "get_transaction",
    "install",
    "install_exception_handlers",
]

_NOT_INSTALLED = (
    "{name} needs odmantic_fastapi's wiring: call odmantic_fastapi.install(app, ...) when you "
    "create the FastAPI app (and run the app's lifespan, e.g. with asgi-lifespan in tests), so "
    "the request's transaction is committed or aborted from the response status"
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
) -> None:
    """Wire odmantic_fastapi into a FastAPI app: engine lifespan and transaction middleware.

    Call it once, right after creating the app (before it starts). Settings
    default to the environment (MONGODB_URL, MONGODB_DATABASE, ...); the app's
    own lifespan still runs, inside the engine's.

    Args:
        app: the FastAPI (or Starlette) application.
        models: models whose declared indexes are created at startup.
        settings: connection settings; read from the environment when omitted.
        engine_factory: an alternative way to open the engine (tests, custom clients).
        exception_handlers: also install :func:`install_exception_handlers`.
    """
    models = list(models)
    app.add_middleware(TransactionMiddleware)
    if exception_handlers:
        install_exception_handlers(app)
    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        opener = engine_factory() if engine_factory else open_engine(settings, models)
        async with opener as engine:
            app_.state.odmantic_engine = engine
            try:
                async with app_lifespan(app_) as inner_state:
                    yield inner_state
            finally:
                del app_.state.odmantic_engine

    app.router.lifespan_context = lifespan


def _request_database(request: Request, name: str) -> RequestDatabase:
    state = request.scope.get(RequestDatabase.SCOPE_KEY)
    if not isinstance(state, RequestDatabase):
        raise RuntimeError(_NOT_INSTALLED.format(name=name))
    return state


def get_engine(request: Request) -> AIOEngine:
    """The application's engine, opened by ``install``'s lifespan."""
    return _request_database(request, "get_engine").engine


async def get_session(request: Request) -> AIOSession:
    """The request's session, started on first use and ended when the response starts."""
    return await _request_database(request, "get_session").session()


async def get_transaction(request: Request) -> AIOTransaction:
    """The request's transaction: committed if the response status is below 400, else aborted."""
    return await _request_database(request, "get_transaction").transaction()


async def get_retrying_transaction(request: Request) -> AIOTransaction:
    """Like :func:`get_transaction`, for routes that are safe to run again from the start.

    On a write conflict (TransientTransactionError) the whole request, its
    dependencies included, runs again with its body replayed, up to
    ``RETRY_ATTEMPTS`` times, before the client sees anything. Use it only for
    routes whose only effects go through the transaction.
    """
    state = _request_database(request, "get_retrying_transaction")
    state.max_attempts = RETRY_ATTEMPTS
    return await state.transaction()


EngineDep = Annotated[AIOEngine, Depends(get_engine)]
SessionDep = Annotated[AIOSession, Depends(get_session)]
TransactionDep = Annotated[AIOTransaction, Depends(get_transaction)]
RetryingTransactionDep = Annotated[AIOTransaction, Depends(get_retrying_transaction)]
