"""What every command handler receives, and the registry that maps names to handlers."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CommandError
from ..storage.store import Collection, IdKey, LockWait, WriteSet
from ..transactions import TxnOptions
from ._validation import validate_write

if TYPE_CHECKING:
    from ..server import Connection, MongoServer

__all__ = [
    "COMMANDS",
    "Context",
    "Handler",
    "collection_name",
    "command",
    "get_bool",
    "get_document",
    "get_int",
    "journal_op",
]

Handler = Callable[["Context"], Awaitable[dict[str, Any]]]

COMMANDS: dict[str, Handler] = {}
# How long a write outside a transaction waits for a document held by an open
# transaction when the command sets no maxTimeMS.
DEFAULT_LOCK_WAIT_SECONDS = 30.0


def command(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler under one or more command names."""

    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = handler
        return handler

    return register


@dataclass(eq=False)
class Context:
    """One command being executed: where, by whom, in which session or transaction."""

    server: "MongoServer"
    connection: "Connection"
    db: str
    name: str
    cmd: dict[str, Any]
    txn: TxnOptions
    # Writes made outside a transaction, journalled together after the command.
    ops: list[dict[str, Any]] = field(default_factory=list)
    catalog: list[dict[str, Any]] = field(default_factory=list)
    # Set by commitTransaction so the journal can answer a retried commit after a restart.
    commit_marker: dict[str, Any] | None = None
    started: float = field(default_factory=time.monotonic)
    # The snapshot a read outside a transaction reads at (readConcern level "snapshot").
    snapshot: WriteSet | None = None
    # A read command's snapshot outside a transaction, held while it pauses for others.
    read_snapshot: WriteSet | None = None
    # Whether the command takes the server's write gate, and holds it now (see _writing).
    gated: bool = False
    holds_gate: bool = False
    # Records this command queued before its last one (see journal_so_far), and
    # how many of its catalog entries they hold.
    journaled: list["asyncio.Future[None]"] = field(default_factory=list)
    catalog_journaled: int = 0
    # How many catalog entries change streams have published as events.
    catalog_events: int = 0
    # A retryable write's statement results not journalled yet, by statement index.
    statement_results: dict[int, Any] = field(default_factory=dict)
    # The index of the write statement being run (-1 before the first): what a
    # change event of the write describes is that statement's, not the command's.
    statement: int = -1

    @property
    def write_set(self) -> WriteSet | None:
        session = self.txn.session
        if self.txn.in_transaction and session is not None:
            return session.write_set
        return self.snapshot

    @property
    def read_view(self) -> WriteSet | None:
        """What reads see: the transaction's snapshot and writes, or the read snapshot."""
        return self.write_set or self.read_snapshot

    def max_time_deadline(self) -> float | None:
        """When maxTimeMS runs out (a ``time.monotonic()`` value), or None without one."""
        max_time = self.cmd.get("maxTimeMS")
        if isinstance(max_time, int | float) and not isinstance(max_time, bool) and max_time > 0:
            return self.started + max_time / 1000
        return None

    @property
    def arg(self) -> Any:
        return self.cmd[self.name]

    def deadline(self) -> float:
        max_time = self.max_time_deadline()
        return max_time if max_time is not None else self.started + DEFAULT_LOCK_WAIT_SECONDS

    def write(
        self, coll: Collection, key: IdKey, doc: dict[str, Any] | None, id_value: Any
    ) -> None:
        """Write one document in this command's transaction, or commit it now."""
        store = self.server.store
        before = store.get(coll, key, self.write_set)
        if doc is not None and "validator" in coll.options:
            validate_write(coll, before, doc, bool(self.cmd.get("bypassDocumentValidation")))
        ts = store.write(coll, key, doc, self.write_set)
        if ts is not None:
            self.ops.append(journal_op(coll.namespace, id_value, doc))
        self.server.change_streams.record_write(self, coll, before, doc, id_value)

    @property
    def has_unjournaled_catalog(self) -> bool:
        return len(self.catalog) > self.catalog_journaled

    def unjournaled_catalog(self) -> list[dict[str, Any]]:
        return self.catalog[self.catalog_journaled :]

    def journal_so_far(self) -> None:
        """Queue what this command has written so far as a journal record of its own.

        A retryable write's record also holds the results of the statements
        whose writes it holds (see ``progress_record``).
        """
        journal = self.server.journal
        catalog = self.unjournaled_catalog()
        if journal is not None and (catalog or self.ops):
            record: dict[str, Any] = {}
            if catalog:
                record["catalog"] = catalog
            if self.ops:
                record["ops"] = self.ops
            progress = self.progress_record()
            if progress is not None:
                record["retry"] = progress
            self.journaled.append(journal.append_nowait(record))
        self.catalog_journaled = len(self.catalog)
        self.ops = []

    def statements_done(self) -> dict[int, Any]:
        """The results of this retryable write's statements that an earlier attempt ran."""
        session, number = self.txn.session, self.txn.txn_number
        if not self.txn.retryable_write or session is None or number is None:
            return {}
        return dict(session.retry_progress.get(number, {}))

    def statement_done(self, index: int, result: Any) -> None:
        """Record what statement ``index`` of a retryable write returned, once it has written."""
        session, number = self.txn.session, self.txn.txn_number
        if self.txn.retryable_write and session is not None and number is not None:
            session.retry_progress.setdefault(number, {})[index] = result
            self.statement_results[index] = result

    def progress_record(self) -> dict[str, Any] | None:
        """The journal form of the statement results recorded since the last record (or None)."""
        session, results = self.txn.session, self.statement_results
        if not results or session is None:
            return None
        self.statement_results = {}
        done = {str(index): result for index, result in results.items()}
        return {"lsid": session.lsid_doc, "txnNumber": self.txn.txn_number, "progress": done}

    async def take_gate(self) -> None:
        """Hold the server's write gate (a command that may write, before it writes)."""
        if self.gated and not self.holds_gate:
            await self.server.write_gate.acquire()
            self.holds_gate = True

    def let_gate_go(self) -> None:
        if self.holds_gate:
            self.holds_gate = False
            self.server.write_gate.release()

    async def wait_for(self, wait: LockWait) -> None:
        """Wait (bounded by maxTimeMS) for the transaction holding a document to end."""
        remaining = self.deadline() - time.monotonic()
        if remaining <= 0:
            raise CommandError(50, "operation exceeded time limit")
        try:
            await asyncio.wait_for(wait.owner.finished.wait(), remaining)
        except TimeoutError:
            raise CommandError(50, "operation exceeded time limit") from None


def journal_op(namespace: str, id_value: Any, doc: dict[str, Any] | None) -> dict[str, Any]:
    """The journal form of one committed document write: the new document, or the deleted id."""
    if doc is None:
        return {"ns": namespace, "id": id_value}
    return {"ns": namespace, "doc": doc}


def get_int(cmd: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    value = cmd.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(
            14, f"BSON field '{key}' is the wrong type '{type(value).__name__}', expected a number"
        )
    if isinstance(value, float) and not value.is_integer():
        raise CommandError(2, f"BSON field '{key}' must be an integral number, got {value}")
    return int(value)


def get_bool(cmd: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = cmd.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    raise CommandError(14, f"BSON field '{key}' is the wrong type, expected type 'bool'")


def get_document(cmd: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = cmd.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CommandError(
            14, f"BSON field '{key}' is the wrong type '{type(value).__name__}', expected 'object'"
        )
    return value


def collection_name(ctx: Context) -> str:
    """The collection a command names, validated as MongoDB validates it."""
    name = ctx.arg
    if not isinstance(name, str):
        raise CommandError(73, f"collection name has invalid type {type(name).__name__}")
    if not name or "\x00" in name or name.startswith(".") or "$" in name:
        raise CommandError(73, f"Invalid collection name: {name!r}")
    if len(ctx.db) + 1 + len(name) > 255:
        raise CommandError(73, f"Fully qualified namespace is too long: {ctx.db}.{name}")
    return name
