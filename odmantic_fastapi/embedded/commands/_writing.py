"""How long write commands share the server: scans off the event loop, short turns, journal order kept.

A write command applies each document write in memory at once (other clients
can read it then, as on MongoDB, where a multi-document update is not atomic)
and journals its writes after it ends. Three rules keep that correct while a
long write lets other clients in:

- The server's write gate: a command that may write holds it from its start
  until its last record is queued for the journal, and whenever it has
  writes applied in memory but not queued. So records reach the journal in
  the order memory changed, and a restart replays them in that order.
- Before it pauses, a write queues what it wrote so far as a record of its
  own and lets the gate go. A retryable write's record also holds the
  results of the statements it covers (see ``Context.statement_done``), so a
  retry after a crash runs only the statements that had not run. The one
  exception is a retryable command with a statement that may write many
  documents (``may_let_writes_in``): once it has written it keeps the gate
  while it pauses; reads and pings still run, other writes wait.
- After a pause a write checks that what it works on still exists: the same
  store (a failed journal write rebuilds it), the same collection (not
  dropped or renamed: 175 QueryPlanKilled) and its transaction still open
  (251 NoSuchTransaction). Each candidate document is read again before it
  is written, and matched again when it changed meanwhile.
"""

import asyncio
import time
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from ..errors import CommandError
from ..evaluation import budget
from ..evaluation.matcher import Matcher
from ..storage.store import Collection, LockWait
from ._base import Context

__all__ = ["Turns", "matching_for_write", "still_matching"]

_T = TypeVar("_T")

# A write runs this long on the event loop before it lets other clients in.
_SLICE_SECONDS = 0.01
# Collections up to this size are scanned on the event loop: a worker thread costs more.
_SMALL_COLLECTION = 2048


class Turns:
    """One write command's turns on the event loop: when to pause, and what to check after."""

    def __init__(self, ctx: Context, coll: Collection | None) -> None:
        self.ctx = ctx
        self.coll = coll
        self.name = coll.name if coll is not None else None
        self.store = ctx.server.store
        self.write_set = ctx.write_set
        self._since = time.monotonic()
        self._one_record = ctx.txn.retryable_write and _writes_many(ctx)

    @property
    def may_let_writes_in(self) -> bool:
        """Whether this command can pause without holding the write gate.

        Every command can, once what it wrote so far is journalled, except a
        retryable write with a statement that may write many documents (an
        update with ``multi``, a delete without ``limit: 1``): such a statement
        can pause after some of its writes, while a statement's result is
        recorded (for a retry to skip it) only once it ends, so its writes and
        the reply stay one journal record, and the gate is held meanwhile.
        """
        ctx = self.ctx
        return not (self._one_record and (ctx.ops or ctx.has_unjournaled_catalog))

    async def tick(self) -> None:
        """Pause if this command has had the event loop for its slice; check maxTimeMS."""
        budget.check()
        if time.monotonic() - self._since >= _SLICE_SECONDS:
            await self.pause()

    async def pause(self) -> None:
        """Let other clients run, then make sure this command's target still exists."""
        await self._away(asyncio.sleep(0))

    async def wait_for_lock(self, wait: LockWait) -> None:
        """Wait (bounded by maxTimeMS) for the transaction holding a document to end.

        The gate is let go while waiting, since that transaction needs it to
        commit; what the command wrote so far is journalled first, even for a
        retryable write (whose writes then span two records).
        """
        self.ctx.journal_so_far()
        await self._away(self.ctx.wait_for(wait))

    async def in_thread(self, work: Awaitable[_T]) -> _T:
        """Await ``work`` (a worker thread's result) as a pause."""
        return await self._away(work)

    async def _away(self, awaitable: Awaitable[_T]) -> _T:
        ctx = self.ctx
        keep_gate = not self.may_let_writes_in
        if not keep_gate:
            ctx.journal_so_far()
            ctx.let_gate_go()
        try:
            return await awaitable
        finally:
            if not keep_gate:
                await ctx.take_gate()
            self._since = time.monotonic()
            self._check_still_there()

    def _check_still_there(self) -> None:
        ctx = self.ctx
        store = ctx.server.store
        if store is not self.store:
            # The rollback rebuilt memory without this command's unjournalled
            # writes: they must not reach the journal now, nor the results of
            # the statements that made them (a retry would skip those).
            ctx.ops = []
            ctx.catalog_journaled = len(ctx.catalog)
            ctx.statement_results = {}
            raise CommandError(
                175, "the write was interrupted: the server rolled back to its journal"
            )
        if (
            self.coll is not None
            # By the name it had when the command began: a rename changes the object's own.
            and store.collection_in(ctx.db, self.name or "", self.write_set) is not self.coll
        ):
            raise CommandError(
                175, f"collection {self.coll.namespace} was dropped or renamed during the write"
            )
        session = ctx.txn.session
        if (
            self.write_set is not None
            and session is not None
            and ctx.txn.in_transaction
            and session.write_set is not self.write_set
        ):
            raise CommandError(
                251,
                f"Transaction with {{ txnNumber: {ctx.txn.txn_number} }} was aborted "
                f"while the command ran ({session.abort_reason or 'aborted'}).",
                labels=["TransientTransactionError"],
            )


def _writes_many(ctx: Context) -> bool:
    """Whether one of the command's statements may write more than one document."""
    key = {"update": "updates", "delete": "deletes"}.get(ctx.name)
    statements = ctx.cmd.get(key) if key is not None else None
    if not isinstance(statements, list):
        return False
    if ctx.name == "update":
        return any(isinstance(spec, Mapping) and spec.get("multi") for spec in statements)
    return any(isinstance(spec, Mapping) and spec.get("limit", 0) == 0 for spec in statements)


async def matching_for_write(
    turns: Turns, coll: Collection, filter: Mapping[str, Any], matcher: Matcher
) -> list[dict[str, Any]]:
    """The documents of ``coll`` matching ``filter`` in the command's view, as candidates to write.

    Large collections are matched in a worker thread (a pause) when the
    command may let other writes in; the candidates are the versions current
    when the scan started, so the caller reads each one again before writing.
    """
    ctx = turns.ctx
    scan = ctx.server.store.scan(coll, filter, matcher, ctx.read_view)
    if coll.live_count <= _SMALL_COLLECTION or not turns.may_let_writes_in:
        return [doc for doc in scan if doc is not None]
    return await turns.in_thread(asyncio.to_thread(lambda: [d for d in scan if d is not None]))


def still_matching(
    ctx: Context, turns: Turns, candidate: dict[str, Any], matcher: Matcher
) -> dict[str, Any] | None:
    """``candidate`` as it is now, if it still exists and matches (None otherwise)."""
    assert turns.coll is not None
    current = ctx.server.store.get(turns.coll, turns.coll.key_of(candidate), ctx.write_set)
    if current is candidate:
        return current
    if current is None or not matcher.matches(current):
        return None
    return current
