"""Logical sessions, multi-document transactions and retryable writes, as MongoDB runs them.

A command carrying ``lsid`` + ``txnNumber`` + ``autocommit: false`` belongs to a
transaction: ``startTransaction: true`` opens one on a fresh snapshot, later
commands continue it, ``commitTransaction``/``abortTransaction`` end it. A
command with ``lsid`` + ``txnNumber`` and no ``autocommit`` is a retryable
write: its reply is remembered (durably, with the write itself) so that a
retry with the same numbers answers the first reply instead of writing twice.
A retryable write of many statements lets other writes in between its turns,
as MongoDB does; what it wrote by then is journalled with the results of the
statements it covers, so that a retry after a crash (or after the command
ended with write errors) runs only the statements that had not run, and
answers for the others from their recorded results. A retry that arrives
while the first attempt still runs waits for it.
"""

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from bson import Binary

from .errors import CommandError
from .storage.store import Store, WriteSet

__all__ = [
    "DEFAULT_SESSION_TIMEOUT_MINUTES",
    "ServerSession",
    "SessionRegistry",
    "TransactionState",
    "TxnOptions",
]

DEFAULT_SESSION_TIMEOUT_MINUTES = 30

# Commands MongoDB accepts inside a multi-document transaction.
_TXN_COMMANDS = frozenset(
    {
        "find",
        "getMore",
        "killCursors",
        "insert",
        "update",
        "delete",
        "findAndModify",
        "findandmodify",
        "aggregate",
        "distinct",
        "commitTransaction",
        "abortTransaction",
        "create",
        "createIndexes",
        "bulkWrite",
    }
)


class TransactionState(Enum):
    NONE = "none"
    IN_PROGRESS = "inProgress"
    COMMITTED = "committed"
    ABORTED = "aborted"


@dataclass(eq=False)
class ServerSession:
    """The server's record of one client session (``lsid``)."""

    lsid: bytes
    lsid_doc: dict[str, Any]
    txn_number: int = -1
    state: TransactionState = TransactionState.NONE
    write_set: WriteSet | None = None
    txn_started: float = 0.0
    last_used: float = field(default_factory=time.monotonic)
    retry_replies: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Per txnNumber, what each statement of a retryable write that ran in turns
    # returned, by its index: a retry runs only the statements missing here.
    retry_progress: dict[int, dict[int, Any]] = field(default_factory=dict)
    # The retryable writes running now, by txnNumber: a retry waits for the first attempt.
    running_writes: dict[int, asyncio.Event] = field(default_factory=dict)
    abort_reason: str = ""

    @property
    def in_transaction(self) -> bool:
        return self.state is TransactionState.IN_PROGRESS


@dataclass
class TxnOptions:
    """What a command says about sessions and transactions."""

    session: ServerSession | None
    txn_number: int | None
    in_transaction: bool
    starts_transaction: bool

    @property
    def retryable_write(self) -> bool:
        return self.session is not None and self.txn_number is not None and not self.in_transaction


def _lsid_bytes(lsid: Any) -> bytes:
    if not isinstance(lsid, Mapping) or "id" not in lsid:
        raise CommandError(40414, "BSON field 'OperationSessionInfo.lsid.id' is missing")
    value = lsid["id"]
    if isinstance(value, Binary | bytes):
        return bytes(value)
    raise CommandError(14, "BSON field 'lsid.id' is the wrong type, expected type 'binData'")


class SessionRegistry:
    """All server sessions; starts, continues, commits and aborts their transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sessions: dict[bytes, ServerSession] = {}
        self.transaction_lifetime_limit_seconds = 60
        self.session_timeout_seconds = DEFAULT_SESSION_TIMEOUT_MINUTES * 60
        self.total_started = 0
        self.total_committed = 0
        self.total_aborted = 0

    def session(self, lsid: Mapping[str, Any]) -> ServerSession:
        key = _lsid_bytes(lsid)
        found = self.sessions.get(key)
        if found is None:
            found = ServerSession(key, dict(lsid))
            self.sessions[key] = found
        found.last_used = time.monotonic()
        return found

    def options_for(self, name: str, cmd: Mapping[str, Any]) -> TxnOptions:
        """Resolve the session and transaction a command runs in, enforcing MongoDB's rules."""
        lsid = cmd.get("lsid")
        if lsid is None:
            if "txnNumber" in cmd:
                raise CommandError(
                    50768, "Transaction number requires a session ID to also be specified"
                )
            return TxnOptions(None, None, False, False)
        session = self.session(lsid)
        raw_number = cmd.get("txnNumber")
        autocommit = cmd.get("autocommit")
        if raw_number is None:
            if autocommit is not None:
                raise CommandError(
                    50768, "'autocommit' field requires a transaction number to also be specified"
                )
            return TxnOptions(session, None, False, False)
        if not isinstance(raw_number, int) or isinstance(raw_number, bool):
            raise CommandError(14, "BSON field 'txnNumber' is the wrong type, expected type 'long'")
        number = int(raw_number)
        if autocommit is None:
            return self._retryable(session, name, number)
        if autocommit is not False:
            raise CommandError(72, "Specifying autocommit=true is not allowed.")
        return self._transactional(session, name, number, bool(cmd.get("startTransaction")))

    def _retryable(self, session: ServerSession, name: str, number: int) -> TxnOptions:
        if number < session.txn_number:
            raise CommandError(
                225,
                f"Retryable write with txnNumber {number} is prohibited on session "
                f"{session.lsid.hex()} because a newer retryable write with txnNumber "
                f"{session.txn_number} has already started on this session.",
            )
        if number > session.txn_number:
            if session.in_transaction:
                self.abort(session, "superseded by a newer transaction number")
            session.txn_number = number
            session.state = TransactionState.NONE
            session.retry_replies.clear()
            session.retry_progress.clear()
        return TxnOptions(session, number, False, False)

    def _transactional(
        self, session: ServerSession, name: str, number: int, start: bool
    ) -> TxnOptions:
        if name not in _TXN_COMMANDS:
            raise CommandError(263, f"Cannot run '{name}' in a multi-document transaction.")
        if number < session.txn_number:
            raise CommandError(
                225,
                f"Cannot start transaction {number} on session {session.lsid.hex()} because a "
                f"newer transaction {session.txn_number} has already started.",
            )
        if start:
            if number == session.txn_number and session.state is not TransactionState.NONE:
                raise CommandError(
                    251,
                    f"Given transaction number {number} does not match any in-progress "
                    "transactions. The active transaction number is "
                    f"{session.txn_number}",
                    labels=["TransientTransactionError"],
                )
            if session.in_transaction:
                self.abort(session, "superseded by a newer transaction")
            session.txn_number = number
            session.state = TransactionState.IN_PROGRESS
            session.write_set = self.store.begin()
            session.txn_started = time.monotonic()
            session.retry_replies.clear()
            session.retry_progress.clear()
            self.total_started += 1
            return TxnOptions(session, number, True, True)
        if number != session.txn_number:
            raise CommandError(
                251,
                f"Given transaction number {number} does not match any in-progress "
                f"transactions. The active transaction number is {session.txn_number}",
                labels=["TransientTransactionError"],
            )
        if session.state is TransactionState.IN_PROGRESS:
            return TxnOptions(session, number, True, False)
        if session.state is TransactionState.COMMITTED and name in (
            "commitTransaction",
            "abortTransaction",
        ):
            if name == "commitTransaction":
                return TxnOptions(session, number, False, False)
            raise CommandError(
                256,
                f"Transaction {number} has been committed.",
            )
        if session.state is TransactionState.ABORTED:
            raise CommandError(
                251,
                f"Transaction with {{ txnNumber: {number} }} has been aborted"
                + (f" ({session.abort_reason})" if session.abort_reason else "")
                + ".",
                labels=["TransientTransactionError"],
            )
        raise CommandError(
            251,
            f"Given transaction number {number} does not match any in-progress transactions.",
            labels=["TransientTransactionError"],
        )

    def commit(self, session: ServerSession) -> tuple[int, list[Any]]:
        """Publish the session's transaction; returns the commit timestamp and applied writes."""
        ws = session.write_set
        assert ws is not None
        ts, applied = self.store.commit(ws)
        session.write_set = None
        session.state = TransactionState.COMMITTED
        self.total_committed += 1
        return ts, applied

    def undo_start(self, session: ServerSession) -> None:
        """Take back a start that failed before its command ran: the number may start again."""
        self._discard_writes(session)
        session.state = TransactionState.NONE
        self.total_started -= 1

    def abort(self, session: ServerSession, reason: str = "") -> None:
        """Discard the session's open transaction, if any."""
        self._discard_writes(session)
        if session.state is TransactionState.IN_PROGRESS:
            session.state = TransactionState.ABORTED
            session.abort_reason = reason
            self.total_aborted += 1

    def _discard_writes(self, session: ServerSession) -> None:
        if session.write_set is not None:
            self.store.abort(session.write_set)
            session.write_set = None

    def end(self, lsids: list[Any]) -> None:
        """``endSessions``: abort what they hold and forget them."""
        for lsid in lsids:
            key = _lsid_bytes(lsid)
            session = self.sessions.pop(key, None)
            if session is not None:
                self.abort(session, "session ended")

    def reap(self, now: float | None = None) -> int:
        """Abort transactions past their lifetime and forget idle sessions; returns aborts."""
        now = time.monotonic() if now is None else now
        aborted = 0
        for key, session in list(self.sessions.items()):
            if (
                session.in_transaction
                and now - session.txn_started > self.transaction_lifetime_limit_seconds
            ):
                self.abort(session, "transaction exceeded transactionLifetimeLimitSeconds")
                aborted += 1
            if (
                not session.in_transaction
                and now - session.last_used > self.session_timeout_seconds
            ):
                del self.sessions[key]
        return aborted

    def stats(self) -> dict[str, Any]:
        """The ``transactions`` section of serverStatus."""
        open_txns = [s for s in self.sessions.values() if s.in_transaction]
        return {
            "currentActive": 0,
            "currentInactive": len(open_txns),
            "currentOpen": len(open_txns),
            "totalStarted": self.total_started,
            "totalCommitted": self.total_committed,
            "totalAborted": self.total_aborted,
        }
