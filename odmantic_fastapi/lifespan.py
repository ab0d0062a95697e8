"""App wiring for FastAPI: the engine's lifespan and the middleware that ends request transactions.

``install(app, models=[...])`` is the one line an application needs: it opens
the client (and the embedded server when ``MONGODB_URL=embedded://``) for the
app's lifetime, composed with the app's own lifespan, and adds the middleware
that commits or aborts each request's transaction from the response status
before the response is sent.
"""

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar

from pymongo.errors import (
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._request_session import RequestSession, current_session
from .engine import AIOEngine
from .model import Model
from .session import AIOTransaction
from .settings import MongoSettings

__all__ = [
    "RequestDatabase",
    "TransactionMiddleware",
    "install",
    "install_exception_handlers",
    "open_engine",
]

log = logging.getLogger("odmantic_fastapi")

# How long a commit whose outcome is unknown is retried, as the drivers'
# with_transaction does, before the request is answered 503.
COMMIT_RETRY_SECONDS = 10.0
RETRY_AFTER_SECONDS = "1"


@asynccontextmanager
async def open_engine(
    settings: MongoSettings | None = None,
    models: Iterable[type[Model]] = (),
) -> AsyncIterator[AIOEngine]:
    """An engine on a fresh client for the duration of the block, indexes created.

    Starts the embedded server when ``settings.url`` is ``embedded://``.
    """
    settings = settings or MongoSettings()
    stack = contextlib.AsyncExitStack()
    async with stack:
        url = settings.url.get_secret_value()
        if settings.uses_embedded_server:
            from .embedded import EmbeddedServer

            server = EmbeddedServer(data_dir=settings.embedded_data_dir)
            url = await asyncio.to_thread(server.start)
            stack.callback(server.stop)
        client: Any
        if settings.client == "motor":
            from motor.motor_asyncio import AsyncIOMotorClient

            client = AsyncIOMotorClient(url, **settings.client_options())
            stack.callback(client.close)
        else:
            from pymongo import AsyncMongoClient

            client = AsyncMongoClient(url, **settings.client_options())
            stack.push_async_callback(client.close)
        engine = AIOEngine(client, database=settings.database)
        await engine.configure_database(list(models))
        yield engine


class _CommitFailed(Exception):
    """The request's commit failed; carries the response to send instead."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


class RequestDatabase:
    """One request's session and transaction, shared by every dependency and the route."""

    SCOPE_KEY: ClassVar[str] = "odmantic_fastapi.request"

    def __init__(self, engine: AIOEngine) -> None:
        self.engine = engine
        self.attempt = 1
        # Raised by RetryingTransactionDep: the route may be run again on a write conflict.
        self.max_attempts = 1
        self.transient_failure = False
        self._session: RequestSession | None = None
        self._transaction: AIOTransaction | None = None
        self._lock = asyncio.Lock()

    async def session(self) -> RequestSession:
        async with self._lock:
            if self._session is None:
                session = RequestSession(self.engine)
                await session.start()
                self._session = session
                current_session.set(session)
            return self._session

    async def transaction(self) -> AIOTransaction:
        session = await self.session()
        async with self._lock:
            if self._transaction is None:
                transaction = session.transaction()
                await transaction.start()
                self._transaction = transaction
                # Engine calls that forget session= join the request's transaction.
                session.joined = transaction
            return self._transaction

    def _open_transaction(self) -> AIOTransaction | None:
        txn = self._transaction
        if txn is None or not txn.is_started:
            return None  # never started, or the route committed or aborted it itself
        return txn

    async def finish(self, commit: bool) -> None:
        """Commit or abort the request's transaction; raises _CommitFailed on a failed commit."""
        txn = self._open_transaction()
        if txn is None:
            return
        if not commit:
            await txn.abort()
            return
        deadline = time.monotonic() + COMMIT_RETRY_SECONDS
        while True:
            try:
                await txn.commit()
                return
            except PyMongoError as exc:
                if (
                    isinstance(exc, OperationFailure | ConnectionFailure)
                    and exc.has_error_label("UnknownTransactionCommitResult")
                    and time.monotonic() < deadline
                ):
                    await asyncio.sleep(0.05)
                    continue
                await self._abort_quietly()
                self.transient_failure = _is_transient(exc)
                raise _failure_response(exc) from exc

    async def _abort_quietly(self) -> None:
        txn = self._open_transaction()
        if txn is not None:
            with contextlib.suppress(PyMongoError):
                await txn.abort()

    async def close(self) -> None:
        """Abort anything still open and end the session."""
        await self._abort_quietly()
        if self._session is not None:
            with contextlib.suppress(PyMongoError):
                await self._session.end()
            self._session = None


def _is_transient(exc: PyMongoError) -> bool:
    return (isinstance(exc, OperationFailure) and exc.code == 112) or exc.has_error_label(
        "TransientTransactionError"
    )


def _failure_response(exc: PyMongoError) -> _CommitFailed:
    if _is_transient(exc) and not exc.has_error_label("UnknownTransactionCommitResult"):
        return _CommitFailed(
            409,
            "The request conflicted with a concurrent change and was rolled back; retry it.",
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    if isinstance(exc, ConnectionFailure | ServerSelectionTimeoutError) or exc.has_error_label(
        "UnknownTransactionCommitResult"
    ):
        return _CommitFailed(
            503,
            "The database is unavailable; the request was not applied.",
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    log.error("commit failed: %s", exc)
    return _CommitFailed(500, "The request could not be committed and was rolled back.")


async def _shielded(awaitable: Any) -> None:
    """Finish cleanup even when the request task is being cancelled (client gone)."""
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


class TransactionMiddleware:
    """Commits or aborts the request's transaction when the response starts, before it is sent.

    A route that asked for a retrying transaction (``RetryingTransactionDep``)
    and failed on a write conflict is run again, request body replayed, before
    anything reaches the client: up to its attempts, then the 409 goes out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        engine = getattr(scope["app"].state, "odmantic_engine", None)
        if engine is None:
            await self.app(scope, receive, send)
            return
        recorded: list[Message] = []
        attempt = 0
        while True:
            attempt += 1
            replay = list(recorded)

            async def receive_once(replay: list[Message] = replay) -> Message:
                if replay:
                    return replay.pop(0)
                message = await receive()
                recorded.append(message)
                return message

            state = RequestDatabase(engine)
            state.attempt = attempt
            if not await self._attempt(scope, receive_once, send, state):
                return
            await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)

    async def _attempt(
        self, scope: Scope, receive: Receive, send: Send, state: "RequestDatabase"
    ) -> bool:
        """Run the app once; True when it must run again (a retryable write conflict)."""
        scope[RequestDatabase.SCOPE_KEY] = state
        replaced = False
        retry = False

        async def send_after_commit(message: Message) -> None:
            nonlocal replaced, retry
            if replaced or retry:
                return
            if message["type"] == "http.response.start":
                failure: _CommitFailed | None = None
                try:
                    await state.finish(commit=message["status"] < 400)
                except _CommitFailed as exc:
                    failure = exc
                if state.transient_failure and state.attempt < state.max_attempts:
                    retry = True
                    return
                if failure is not None:
                    replaced = True
                    await _send_json(
                        send, failure.status, {"detail": failure.detail}, failure.headers
                    )
                    return
            await send(message)

        # The request's session is joined by engine calls only within this request.
        token = current_session.set(None)
        try:
            await self.app(scope, receive, send_after_commit)
        finally:
            try:
                await _shielded(state.close())
            finally:
                current_session.reset(token)
        return retry


async def _send_json(
    send: Send, status: int, body: Mapping[str, Any], headers: Mapping[str, str]
) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def install_exception_handlers(app: Any) -> None:
    """Answer the ODM's errors with clear JSON instead of a 500.

    - DocumentNotFoundError -> 404
    - DuplicateKeyError -> 409
    - a write conflict (TransientTransactionError) -> 409 with Retry-After
    - the database unreachable (ConnectionFailure) -> 503 with Retry-After
    """
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from .exceptions import DocumentNotFoundError, DuplicateKeyError

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DocumentNotFoundError)
        return JSONResponse({"detail": f"{exc.model.__name__} not found"}, status_code=404)

    async def duplicate(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DuplicateKeyError)
        return JSONResponse(
            {"detail": f"{exc.model.__name__} already exists with one of these unique values"},
            status_code=409,
        )

    async def operation_failed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OperationFailure)
        if _is_transient(exc):
            state = request.scope.get(RequestDatabase.SCOPE_KEY)
            if isinstance(state, RequestDatabase):
                state.transient_failure = True
            failure = _failure_response(exc)
            return JSONResponse(
                {"detail": failure.detail}, status_code=failure.status, headers=failure.headers
            )
        log.error("database operation failed: %s", exc)
        return JSONResponse({"detail": "The database refused the operation."}, status_code=500)

    async def unreachable(request: Request, exc: Exception) -> JSONResponse:
        # An outage is "retry later" (503), never a bug (500): the transaction in
        # use is aborted by the middleware, as for any response of 400 or more.
        log.warning("database unreachable: %s", exc)
        return JSONResponse(
            {"detail": "The database is unavailable; the request was not applied."},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    app.add_exception_handler(DocumentNotFoundError, not_found)
    app.add_exception_handler(DuplicateKeyError, duplicate)
    app.add_exception_handler(OperationFailure, operation_failed)
    app.add_exception_handler(ConnectionFailure, unreachable)


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
