"""The session of the request being served, which engine calls without ``session=`` join.

The FastAPI layer's middleware gives each request an empty slot and its
dependencies fill it; the engine reads it through :func:`joined_session`.
Nothing here imports FastAPI, so the ODM can read it without loading FastAPI.

A request's session (and its transaction) lives in three phases:

    open --commit/abort--> closed --response sent--> released

While open it is joined. Once the transaction is committed or aborted, at the
start of the response, it refuses any further use: a write in the response
body would silently land outside the transaction. Once the response has been
sent (background tasks run then), engine calls go to the database on their own.
"""

import contextvars
from typing import TYPE_CHECKING, Any, Unpack

from ._driver import TransactionOptions, TransactionSettings
from .session import AIOSession, AIOTransaction, SyncSession, SyncTransaction

if TYPE_CHECKING:
    from .engine import AIOEngine, SyncEngine

__all__ = [
    "RequestSession",
    "RequestTransaction",
    "SyncRequestSession",
    "SyncRequestTransaction",
    "closed_message",
    "current_session",
    "joined_session",
]

#: The request's session, when a dependency of the request being served asked for one.
current_session: "contextvars.ContextVar[RequestSession | None]" = contextvars.ContextVar(
    "odmantic_fastapi_current_session", default=None
)


def closed_message(committed: bool) -> str:
    """What a use of the request's session after its commit or abort is told."""
    outcome = "committed" if committed else "aborted"
    return f"transaction already {outcome}; write in the route, not in the response body"


class _Phase:
    """Open, then closed with the reason given to whoever still uses it, then released."""

    def __init__(self) -> None:
        self.closed: str | None = None
        self.released = False

    def check(self) -> None:
        if self.closed is not None:
            raise RuntimeError(self.closed)


class _ClosesWithTheRequest:
    """Refuses the driver session once the request's phase is closed; mixed into each class below."""

    phase: _Phase

    def get_driver_session(self) -> Any:
        self.phase.check()
        return super().get_driver_session()  # type: ignore[misc]  # a session class follows in the MRO

    def release(self) -> None:
        """The response is sent: engine calls without ``session=`` go to the database alone."""
        self.phase.released = True


class RequestSession(_ClosesWithTheRequest, AIOSession):
    """The session of one request: refuses use once the request's outcome is decided.

    It holds no reference to itself, and its transaction's only until the
    response is sent (:meth:`release`): a request's session and transaction
    form no reference cycle, so reference counting frees them once nothing
    else holds them, without waiting for the garbage collector.
    """

    def __init__(self, engine: "AIOEngine") -> None:
        super().__init__(engine)
        self.phase = _Phase()
        self._joined_transaction: RequestTransaction | None = None

    @property
    def joined(self) -> AIOSession:
        """What engine calls without ``session=`` use: the request's transaction, once started."""
        transaction = self._joined_transaction
        return self if transaction is None else transaction

    def join(self, transaction: "RequestTransaction") -> None:
        """Engine calls without ``session=`` join ``transaction`` from now on."""
        self._joined_transaction = transaction

    def release(self) -> None:
        super().release()
        self._joined_transaction = None

    def transaction(self, **options: Unpack[TransactionSettings]) -> "RequestTransaction":
        return RequestTransaction(self, TransactionOptions(**options))


class RequestTransaction(_ClosesWithTheRequest, AIOTransaction):
    """The request's transaction: after the commit or abort it says why it refuses use.

    A plain ended transaction says "transaction not started", as ODMantic's
    does; inside a request the useful answer is where the write belongs.
    """

    def __init__(self, session: RequestSession, options: TransactionOptions) -> None:
        super().__init__(session, options)
        self.phase = session.phase


class SyncRequestSession(_ClosesWithTheRequest, SyncSession):
    """The synchronous counterpart of :class:`RequestSession`, for ``def`` routes."""

    def __init__(self, engine: "SyncEngine") -> None:
        super().__init__(engine)
        self.phase = _Phase()

    def transaction(self, **options: Unpack[TransactionSettings]) -> "SyncRequestTransaction":
        return SyncRequestTransaction(self, TransactionOptions(**options))


class SyncRequestTransaction(_ClosesWithTheRequest, SyncTransaction):
    """The synchronous counterpart of :class:`RequestTransaction`."""

    def __init__(self, session: SyncRequestSession, options: TransactionOptions) -> None:
        super().__init__(session, options)
        self.phase = session.phase


def joined_session() -> AIOSession | None:
    """The request's session or transaction for an engine call made without ``session=``.

    None outside a request, or once the response has been sent.

    Raises:
        RuntimeError: the request's transaction is already committed or aborted.
    """
    request = current_session.get()
    if request is None or request.phase.released:
        return None
    request.phase.check()
    return request.joined
