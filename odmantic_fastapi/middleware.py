"""The ASGI middleware that commits or aborts each request's transaction, and per-request state.

The decision is taken when the response starts, before any byte of it is sent:
a status below 400 commits, anything else aborts. A route that asked for a
retrying transaction and failed on a write conflict is run again, request
body replayed, before anything reaches the client.
"""

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._request_session import RequestSession, current_session
from .engine import AIOEngine
from .http_errors import TRANSIENT_KEY, CommitFailed, commit_failure, is_transient
from .session import AIOTransaction

__all__ = ["RequestDatabase", "TransactionMiddleware"]

# How long a commit whose outcome is unknown is retried, as the drivers'
# with_transaction does, before the request is answered 503.
COMMIT_RETRY_SECONDS = 10.0


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
        """Commit or abort the request's transaction; raises CommitFailed on a failed commit."""
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
                self.transient_failure = is_transient(exc)
                raise commit_failure(exc) from exc

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
        self, scope: Scope, receive: Receive, send: Send, state: RequestDatabase
    ) -> bool:
        """Run the app once; True when it must run again (a retryable write conflict)."""
        scope[RequestDatabase.SCOPE_KEY] = state
        scope.pop(TRANSIENT_KEY, None)
        replaced = False
        retry = False

        async def send_after_commit(message: Message) -> None:
            nonlocal replaced, retry
            if replaced or retry:
                return
            if message["type"] == "http.response.start":
                failure: CommitFailed | None = None
                try:
                    await state.finish(commit=message["status"] < 400)
                except CommitFailed as exc:
                    failure = exc
                if scope.pop(TRANSIENT_KEY, False):
                    state.transient_failure = True
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
