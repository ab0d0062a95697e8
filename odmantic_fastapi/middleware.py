"""The ASGI middleware that commits or aborts each request's transaction, and per-request state.

``install`` puts it outside the whole application (outside Starlette's
ServerErrorMiddleware and every middleware the app adds), so it sees the
status that actually goes to the client. The decision is taken when the
response starts, before any byte of it is sent: a status below 400 commits,
anything else aborts. After that the request's session and transaction refuse
any use (a write in the response body would land outside the transaction);
once the response is sent, engine calls without ``session=`` (background
tasks) go to the database on their own.

A route that asked for a retrying transaction and failed on a write conflict
is run again, request body replayed, before anything reaches the client.

A websocket gets a session for the connection's life, ended when it closes,
and no status-decided transaction.
"""

import asyncio
import contextlib
import contextvars
import json
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from pymongo.errors import PyMongoError
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._request_session import (
    RequestSession,
    RequestTransaction,
    SyncRequestSession,
    SyncRequestTransaction,
    closed_message,
    current_session,
)
from ._retry import Retry, backoff, commit_steps, commit_with_retry, is_transient
from ._steps import run_sync
from .connect import Engines
from .engine import AIOEngine, SyncEngine
from .http_errors import TRANSIENT_KEY, CommitFailed, commit_failure
from .session import AIOTransaction, SyncTransaction

__all__ = ["COMMIT_RETRY_SECONDS", "RequestDatabase", "TransactionMiddleware"]

#: How long a commit whose outcome is unknown is retried, as the drivers'
#: with_transaction does, before the request is answered 503.
COMMIT_RETRY_SECONDS = 10.0

WEBSOCKET_TRANSACTION = (
    "{name} is for HTTP routes, whose response status decides the commit; a websocket has "
    "none. Use SessionDep (a session that lasts as long as the connection) and "
    "`async with session.transaction():` around each unit of work"
)
ONE_TRANSACTION = "a request has one transaction: it cannot ask for both {first} and {second}"


class RequestDatabase:
    """One request's session and transaction, shared by every dependency and the route.

    A request uses the async engine's session and transaction, or (``def``
    routes) the sync engine's, not both.
    """

    SCOPE_KEY: ClassVar[str] = "odmantic_fastapi.request"

    def __init__(
        self,
        engines: Engines,
        *,
        websocket: bool = False,
        commit_budget: float = COMMIT_RETRY_SECONDS,
    ) -> None:
        self.engines = engines
        self.websocket = websocket
        self.commit_budget = commit_budget
        self.attempt = 1
        # Raised by RetryingTransactionDep: the route may be run again on a write conflict.
        self.max_attempts = 1
        self.transient_failure = False
        self._session: RequestSession | None = None
        self._transaction: RequestTransaction | None = None
        self._sync_session: SyncRequestSession | None = None
        self._sync_transaction: SyncRequestTransaction | None = None
        self._lock = asyncio.Lock()
        self._sync_lock = threading.Lock()

    @property
    def engine(self) -> AIOEngine:
        return self.engines.aio

    @property
    def sync_engine(self) -> SyncEngine:
        return self.engines.sync()

    async def session(self) -> RequestSession:
        async with self._lock:
            if self._session is None:
                session = RequestSession(self.engine)
                await session.start()
                self._session = session
                current_session.set(session)
            return self._session

    async def transaction(self, name: str = "TransactionDep") -> AIOTransaction:
        if self.websocket:
            raise RuntimeError(WEBSOCKET_TRANSACTION.format(name=name))
        if self._sync_transaction is not None:
            raise RuntimeError(ONE_TRANSACTION.format(first="SyncTransactionDep", second=name))
        session = await self.session()
        async with self._lock:
            if self._transaction is None:
                transaction = session.transaction()
                await transaction.start()
                self._transaction = transaction
                # Engine calls that forget session= join the request's transaction.
                session.join(transaction)
            return self._transaction

    def sync_session(self) -> SyncRequestSession:
        """Blocking: called by the sync dependencies, which FastAPI runs in worker threads."""
        with self._sync_lock:
            if self._sync_session is None:
                session = SyncRequestSession(self.sync_engine)
                session.start()
                self._sync_session = session
            return self._sync_session

    def sync_transaction(self, name: str = "SyncTransactionDep") -> SyncTransaction:
        if self.websocket:
            raise RuntimeError(WEBSOCKET_TRANSACTION.format(name=name))
        if self._transaction is not None:
            raise RuntimeError(ONE_TRANSACTION.format(first="TransactionDep", second=name))
        session = self.sync_session()
        with self._sync_lock:
            if self._sync_transaction is None:
                transaction = session.transaction()
                transaction.start()
                self._sync_transaction = transaction
            return self._sync_transaction

    async def finish(self, commit: bool) -> None:
        """Commit or abort the request's transaction, then close its session to further use.

        Raises:
            CommitFailed: the commit failed (the transaction is aborted).
        """
        committed = False
        try:
            committed = await self._finish_async(commit)
            if self._sync_transaction is not None:
                committed = await asyncio.to_thread(self._finish_sync, commit)
        finally:
            message = closed_message(committed)
            for session in (self._session, self._sync_session):
                if session is not None:
                    session.phase.closed = message

    async def _finish_async(self, commit: bool) -> bool:
        txn = self._transaction
        if txn is None or not txn.is_started:
            return commit  # never started, or the route committed or aborted it itself
        if not commit:
            await txn.abort()
            return False
        try:
            await commit_with_retry(txn, self.commit_budget)
        except PyMongoError as exc:
            await self._abort_quietly()
            self.transient_failure = is_transient(exc)
            raise commit_failure(exc) from exc
        return True

    def _finish_sync(self, commit: bool) -> bool:
        txn = self._sync_transaction
        if txn is None or not txn.is_started:
            return commit
        if not commit:
            txn.abort()
            return False
        try:
            run_sync(commit_steps(txn, Retry(self.commit_budget), time.sleep))
        except PyMongoError as exc:
            if txn.is_started:
                with contextlib.suppress(PyMongoError):
                    txn.abort()
            self.transient_failure = is_transient(exc)
            raise commit_failure(exc) from exc
        return True

    def release(self) -> None:
        """The response is sent: engine calls without session= no longer join this request."""
        for session in (self._session, self._sync_session):
            if session is not None:
                session.release()

    async def _abort_quietly(self) -> None:
        txn = self._transaction
        if txn is not None and txn.is_started:
            with contextlib.suppress(PyMongoError):
                await txn.abort()

    def _close_sync(self) -> None:
        txn = self._sync_transaction
        if txn is not None and txn.is_started:
            with contextlib.suppress(PyMongoError):
                txn.abort()
        if self._sync_session is not None:
            with contextlib.suppress(PyMongoError):
                self._sync_session.end()
            self._sync_session = None

    async def close(self) -> None:
        """Abort anything still open and end the sessions."""
        self.release()
        await self._abort_quietly()
        if self._session is not None:
            with contextlib.suppress(PyMongoError):
                await self._session.end()
            self._session = None
        if self._sync_session is not None:
            await asyncio.to_thread(self._close_sync)


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

    Args:
        app: the application's whole middleware stack.
        state: the application's state, where ``install``'s lifespan puts the engines.
        commit_budget: seconds a commit with an unknown outcome is retried.
    """

    def __init__(
        self, app: ASGIApp, state: State, *, commit_budget: float = COMMIT_RETRY_SECONDS
    ) -> None:
        self.app = app
        self.state = state
        self.commit_budget = commit_budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        engines = getattr(self.state, "odmantic_engines", None)
        if scope["type"] not in ("http", "websocket") or engines is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            state = RequestDatabase(engines, websocket=True)
            scope[RequestDatabase.SCOPE_KEY] = state
            async with _RequestScope(state):
                await self.app(scope, receive, send)
            return
        # The attempts run in this one coroutine, the app awaited right here: each
        # coroutine level between the server and the route is one more object
        # that every in-flight request keeps alive for the collector to scan.
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

            state = RequestDatabase(engines, commit_budget=self.commit_budget)
            state.attempt = attempt
            scope[RequestDatabase.SCOPE_KEY] = state
            scope.pop(TRANSIENT_KEY, None)
            sender = _CommitOnStart(scope, send, state)
            async with _RequestScope(state):
                await self.app(scope, receive_once, sender)
            if not sender.retry:
                return
            await asyncio.sleep(backoff(attempt))


class _CommitOnStart:
    """The ``send`` given to the app: commits or aborts when the response starts.

    A commit that fails replaces the response with its error; a write
    conflict on a route that may run again swallows the response (``retry``),
    so that the middleware runs the route once more before anything is sent.
    """

    def __init__(self, scope: Scope, send: Send, state: RequestDatabase) -> None:
        self.scope = scope
        self.send = send
        self.state = state
        self.replaced = False
        self.retry = False

    async def __call__(self, message: Message) -> None:
        if self.replaced or self.retry:
            return
        state = self.state
        if message["type"] == "http.response.start":
            failure: CommitFailed | None = None
            try:
                await state.finish(commit=message["status"] < 400)
            except CommitFailed as exc:
                failure = exc
            if self.scope.pop(TRANSIENT_KEY, False):
                state.transient_failure = True
            if state.transient_failure and state.attempt < state.max_attempts:
                self.retry = True
                return
            if failure is not None:
                self.replaced = True
                await _send_json(
                    self.send, failure.status, {"detail": failure.detail}, failure.headers
                )
                state.release()
                return
        await self.send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            state.release()


class _RequestScope:
    """Around one run of the app: ``state`` is the request's, and its sessions end whatever happens.

    A class rather than a generator-based context manager: nothing of it stays
    suspended while the request runs.
    """

    def __init__(self, state: RequestDatabase) -> None:
        self.state = state
        self.token: contextvars.Token[RequestSession | None] | None = None

    async def __aenter__(self) -> None:
        # The request's session is joined by engine calls only within this request.
        self.token = current_session.set(None)

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await _shielded(self.state.close())
        finally:
            if self.token is not None:
                current_session.reset(self.token)


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
