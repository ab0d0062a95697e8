"""Change streams: the bounded change history, ``$changeStream`` cursors and their getMore.

Every committed write is recorded once, in commit order (a transaction's
writes when it commits, one after another). ``aggregate`` with a leading
``$changeStream`` stage opens a cursor on a collection, a database or the
whole deployment (``aggregate: 1`` on admin with ``allChangesForCluster``);
``getMore`` on it waits up to ``maxAwaitTimeMS`` for new events without
holding up any other client. The history keeps the last ``max_events``
changes, like an oplog window: resuming from before it fails with
ChangeStreamHistoryLost (286).
"""

import asyncio
import contextlib
import dataclasses
import datetime
import itertools
import secrets
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import Int64, Timestamp

from .change_events import (
    EXPANDED_OPERATIONS,
    Change,
    Token,
    collection_uuid,
    decode_token,
    encode_token,
    invalidate_event,
)
from .commands._base import Context, Handler, get_int
from .errors import CommandError
from .evaluation.aggregate import run_pipeline, validate_pipeline
from .evaluation.collation import parse_collation
from .storage.store import Collection, id_key

__all__ = ["DEFAULT_MAX_EVENTS", "ChangeStreams"]

DEFAULT_MAX_EVENTS = 10_000
_HISTORY_LOST = 286
_FATAL = 280
_INTERNAL_DBS = frozenset({"admin", "config", "local"})
_FULL_DOCUMENT = ("default", "updateLookup", "whenAvailable", "required")
_BEFORE_CHANGE = ("off", "whenAvailable", "required")
_DEFAULT_AWAIT_SECONDS = 1.0


class _NoLookups:
    """$lookup inside a change stream pipeline sees no documents."""

    allow_disk_use = False

    def collection_documents(self, collection: str) -> Iterable[Mapping[str, Any]]:
        return []


@dataclass(eq=False)
class _Stream:
    """One open change stream cursor."""

    cursor_id: int
    namespace: str
    db: str | None  # None: the whole deployment
    coll: str | None  # None: a database or the deployment
    pipeline: list[dict[str, Any]]
    full_document: str
    before_change: str
    position: int  # the last history sequence number this stream has looked at
    start_time: Timestamp | None = None
    session: bytes | None = None
    expanded: bool = False  # showExpandedEvents: DDL events and their extra fields
    last_used: float = field(default_factory=time.monotonic)

    def sees(self, change: Change) -> bool:
        if change.op in EXPANDED_OPERATIONS and not self.expanded:
            return False
        if self.db is None:
            return change.db not in _INTERNAL_DBS
        if change.db != self.db:
            return False
        if self.coll is None:
            return change.coll is None or not change.coll.startswith("system.")
        # A dropped database reaches a collection's stream as the drop of that collection.
        return change.op != "dropDatabase" and change.coll == self.coll

    def invalidated_by(self, change: Change) -> bool:
        if self.db is None:
            return False
        if self.coll is None:
            return change.op == "dropDatabase" and change.db == self.db
        return change.op in ("drop", "rename")


class ChangeStreams:
    """The server's change history and its open change stream cursors."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.max_events = max_events
        self.history: deque[Change] = deque()
        self.seq = 0
        self.seconds = 0
        self.streams: dict[int, _Stream] = {}
        self._pending: dict[bytes, tuple[int, list[Change]]] = {}
        self._new_events = asyncio.Event()

    # -- recording -------------------------------------------------------

    def _next(self) -> tuple[int, int, datetime.datetime]:
        self.seq += 1
        wall = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        self.seconds = max(self.seconds, int(wall.timestamp()))
        return self.seq, self.seconds, wall

    def _publish(self, changes: list[Change]) -> None:
        for change in changes:
            seq, seconds, wall = self._next()
            self.history.append(dataclasses.replace(change, seq=seq, seconds=seconds, wall=wall))
        while len(self.history) > self.max_events:
            self.history.popleft()
        if changes:
            self._new_events.set()
            self._new_events = asyncio.Event()

    def record_write(
        self,
        ctx: Context,
        coll: Collection,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        id_value: Any,
    ) -> None:
        """A command wrote one document: an event now, or when its transaction commits."""
        if after is None:
            op = "delete"
        elif before is None:
            op = "insert"
        else:
            op = "replace" if _is_replacement(ctx) else "update"
        images = bool((coll.options.get("changeStreamPreAndPostImages") or {}).get("enabled"))
        session = ctx.txn.session
        in_txn = ctx.txn.in_transaction and session is not None
        change = Change(
            0,
            0,
            datetime.datetime.min,
            op,
            coll.db,
            coll.name,
            id_value,
            before,
            after,
            images,
            lsid=session.lsid_doc if in_txn and session is not None else None,
            txn_number=ctx.txn.txn_number if in_txn else None,
        )
        if not in_txn or session is None:
            # An implicit create comes before the insert that made it.
            self._publish([*self._catalog_changes(ctx), change])
            return
        number, pending = self._pending.get(session.lsid, (-1, []))
        if number != ctx.txn.txn_number:
            pending = []
        pending.append(change)
        self._pending[session.lsid] = (ctx.txn.txn_number or 0, pending)

    def after_command(self, ctx: Context, dropped_collections: Iterable[str] = ()) -> None:
        """Publish what a command committed: a transaction's writes, catalog changes.

        ``dropped_collections``: for dropDatabase, the collections it held.
        """
        changes = self._catalog_changes(ctx, dropped_collections)
        session = ctx.txn.session
        if ctx.commit_marker is not None and session is not None:
            # A transaction's collections and indexes are created before its writes.
            number, pending = self._pending.pop(session.lsid, (-1, []))
            if number == ctx.txn.txn_number:
                changes += pending
        self._publish(changes)

    def _catalog_changes(
        self, ctx: Context, dropped_collections: Iterable[str] = ()
    ) -> list[Change]:
        """The events of the catalog entries the command made since the last call."""
        entries = ctx.catalog[ctx.catalog_events :]
        ctx.catalog_events = len(ctx.catalog)
        changes: list[Change] = []
        for entry in entries:
            op = entry.get("op")
            if op == "create":
                description = _create_description(entry.get("options") or {})
                changes.append(_ddl("create", entry["db"], entry["name"], description=description))
            elif op in ("createIndex", "dropIndex"):
                kind = "createIndexes" if op == "createIndex" else "dropIndexes"
                spec = entry.get("spec") or {"name": entry.get("index")}
                last = changes[-1] if changes else None
                if last is not None and (last.op, last.db, last.coll) == (
                    kind,
                    entry["db"],
                    entry["name"],
                ):
                    # One event for all the indexes one command created or dropped.
                    assert last.description is not None
                    last.description["indexes"].append(spec)
                else:
                    changes.append(
                        _ddl(kind, entry["db"], entry["name"], description={"indexes": [spec]})
                    )
            elif op == "drop":
                changes.append(_ddl("drop", entry["db"], entry["name"]))
            elif op == "dropDatabase":
                for name in dropped_collections:
                    changes.append(_ddl("drop", entry["db"], name))
                changes.append(_ddl("dropDatabase", entry["db"]))
            elif op == "rename":
                src_db, _, src = str(entry["from"]).partition(".")
                dst_db, _, dst = str(entry["to"]).partition(".")
                description = {"to": {"db": dst_db, "coll": dst}}
                if entry.get("dropTarget"):
                    description["dropTarget"] = collection_uuid(dst_db, dst)
                changes.append(
                    _ddl("rename", src_db, src, to=(dst_db, dst), description=description)
                )
        return changes

    def record_modify(self, db: str, coll: str, description: dict[str, Any]) -> None:
        """collMod changed a collection: a ``modify`` event for expanded streams."""
        self._publish([_ddl("modify", db, coll, description=description)])

    def forget_session(self, lsid: bytes) -> None:
        self._pending.pop(lsid, None)

    # -- commands --------------------------------------------------------

    def handler_for(self, name: str, cmd: Mapping[str, Any]) -> Handler | None:
        """The handler when a command is about change streams; None to run it as usual."""
        if name == "aggregate":
            pipeline = cmd.get("pipeline")
            if (
                isinstance(pipeline, list)
                and pipeline
                and isinstance(pipeline[0], Mapping)
                and "$changeStream" in pipeline[0]
            ):
                return self._open
        elif name == "getMore":
            cursor_id = cmd.get("getMore")
            if isinstance(cursor_id, int) and cursor_id in self.streams:
                return self._get_more
        elif name == "killCursors":
            ids = cmd.get("cursors")
            if isinstance(ids, list) and any(isinstance(i, int) and i in self.streams for i in ids):
                return self._kill
        return None

    def _resume_position(self, options: Mapping[str, Any]) -> tuple[int, Timestamp | None]:
        given = [k for k in ("resumeAfter", "startAfter", "startAtOperationTime") if k in options]
        if len(given) > 1:
            raise CommandError(
                40674, "Only one type of resume option is allowed, but multiple were found."
            )
        oldest = self.history[0].seq if self.history else self.seq + 1
        if not given:
            return self.seq, None
        key = given[0]
        if key == "startAtOperationTime":
            at = options[key]
            if not isinstance(at, Timestamp):
                raise CommandError(14, "startAtOperationTime must be a timestamp")
            if self.history and oldest > 1 and at < self.history[0].cluster_time:
                raise _history_lost()
            first = next((c for c in self.history if c.cluster_time >= at), None)
            return (first.seq - 1 if first is not None else self.seq), at
        token = decode_token(options[key])
        if token.invalidate and key == "resumeAfter":
            raise CommandError(
                260,
                "Attempting to resume a change stream using 'resumeAfter' is not allowed from "
                "an invalidate notification.",
            )
        if token.seq > self.seq:
            raise _fatal("cannot resume stream; the resume token was not found.")
        if token.seq < oldest - 1:
            raise _history_lost()
        return token.seq, None

    async def _open(self, ctx: Context) -> dict[str, Any]:
        pipeline = ctx.cmd["pipeline"]
        options = pipeline[0]["$changeStream"]
        if not isinstance(options, Mapping):
            raise CommandError(14, "the $changeStream stage specification must be an object")
        if ctx.txn.in_transaction:
            raise CommandError(
                263, "Operation not permitted in transaction :: caused by :: $changeStream"
            )
        rest = [dict(s) for s in pipeline[1:]]
        for stage in rest:
            if "$changeStream" in stage:
                raise CommandError(40602, "$changeStream is only valid as the first stage")
        validate_pipeline(rest)
        expanded = options.get("showExpandedEvents", False)
        if not isinstance(expanded, bool):
            raise CommandError(14, "showExpandedEvents must be a boolean")
        if parse_collation(ctx.cmd.get("collation")) is not None:
            # Never ignored: a change stream's stages compare by code point only.
            raise CommandError(
                2, "a change stream with a collation is not supported by the embedded server"
            )
        full_document = options.get("fullDocument", "default")
        if full_document not in _FULL_DOCUMENT:
            raise CommandError(2, f"unrecognized value for fullDocument: {full_document!r}")
        before_change = options.get("fullDocumentBeforeChange", "off")
        if before_change not in _BEFORE_CHANGE:
            raise CommandError(
                2, f"unrecognized value for fullDocumentBeforeChange: {before_change!r}"
            )
        db: str | None = ctx.db
        coll: str | None = None
        if isinstance(ctx.arg, str):
            coll = ctx.arg
        elif ctx.arg != 1:
            raise CommandError(14, "aggregate takes a collection name or 1")
        if options.get("allChangesForCluster"):
            if ctx.db != "admin" or coll is not None:
                raise CommandError(
                    73,
                    "A change stream with 'allChangesForCluster:true' must be opened on the "
                    "'admin' database, and with no collection name",
                )
            db = None
        elif ctx.db == "admin" and coll is None:
            raise CommandError(
                73,
                "$changeStream may not be opened on the internal admin database; set "
                "allChangesForCluster:true to watch the whole deployment",
            )
        position, start_time = self._resume_position(options)
        cursor_opts = ctx.cmd.get("cursor")
        batch_size = get_int(cursor_opts, "batchSize") if isinstance(cursor_opts, Mapping) else None
        namespace = f"{ctx.db}.{coll}" if coll is not None else f"{ctx.db}.$cmd.aggregate"
        session = ctx.txn.session
        stream = _Stream(
            secrets.randbits(62) or 1,
            namespace,
            db,
            coll,
            rest,
            full_document,
            before_change,
            position,
            start_time,
            session.lsid if session is not None else None,
            expanded,
        )
        batch, alive = self._batch(ctx, stream, batch_size)
        self.streams[stream.cursor_id] = stream
        if not alive:
            del self.streams[stream.cursor_id]
        return {
            "cursor": {
                "firstBatch": batch,
                "postBatchResumeToken": encode_token(Token(stream.position)),
                "id": Int64(stream.cursor_id if alive else 0),
                "ns": namespace,
            },
            "operationTime": Timestamp(max(self.seconds, 1), 2 * self.seq + 1),
            "ok": 1.0,
        }

    def _batch(
        self, ctx: Context, stream: _Stream, batch_size: int | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Events after the stream's position; the flag is False once it is invalidated."""
        limit = batch_size if batch_size is not None and batch_size > 0 else None
        if batch_size == 0:
            return [], True
        out: list[dict[str, Any]] = []
        size = 0
        start = stream.position
        for change in self._after(start):
            stream.position = change.seq
            if not stream.sees(change):
                continue
            out.extend(self._render(ctx, stream, change))
            if stream.invalidated_by(change):
                out.append(invalidate_event(change.seq, change.seconds, change.wall))
                return out, False
            size += len(bson.encode(out[-1])) if out else 0
            if (limit is not None and len(out) >= limit) or size > 8 * 1024 * 1024:
                break
        return out, True

    def _after(self, position: int) -> Iterable[Change]:
        if not self.history or position >= self.seq:
            return ()
        first = self.history[0].seq
        if position < first - 1:
            raise _history_lost()
        # Sequence numbers are contiguous in the history: the next event is at this index.
        return itertools.islice(self.history, position + 1 - first, None)

    def _render(self, ctx: Context, stream: _Stream, change: Change) -> list[dict[str, Any]]:
        if stream.start_time is not None and change.cluster_time < stream.start_time:
            return []
        current = None
        if change.op == "update" and stream.full_document == "updateLookup":
            coll = ctx.server.store.collection(change.db, change.coll or "")
            if coll is not None:
                current = coll.latest(id_key(change.id_value))
        event = change.event_document(
            stream.full_document, stream.before_change, current, stream.expanded
        )
        if not stream.pipeline:
            return [event]
        results = run_pipeline([event], stream.pipeline, _NoLookups())
        for result in results:
            if result.get("_id") != event["_id"]:
                raise _fatal(
                    "Encountered an event whose _id field, which contains the resume token, "
                    "was modified by the pipeline. Modifying the _id field of an event makes it "
                    "impossible to resume the stream from that point."
                )
        return results

    async def _get_more(self, ctx: Context) -> dict[str, Any]:
        cursor_id = int(ctx.arg)
        stream = self.streams[cursor_id]
        coll = ctx.cmd.get("collection")
        if f"{ctx.db}.{coll}" != stream.namespace:
            raise CommandError(
                13,
                f"Requested getMore on namespace '{ctx.db}.{coll}', but cursor belongs to a "
                f"different namespace {stream.namespace}",
            )
        batch_size = get_int(ctx.cmd, "batchSize")
        max_await = ctx.cmd.get("maxAwaitTimeMS")
        wait = (
            float(max_await) / 1000
            if isinstance(max_await, int | float) and not isinstance(max_await, bool)
            else _DEFAULT_AWAIT_SECONDS
        )
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            batch, alive = self._batch(ctx, stream, batch_size)
            remaining = deadline - time.monotonic()
            if batch or not alive or remaining <= 0:
                break
            new_events = self._new_events
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(new_events.wait(), remaining)
            if cursor_id not in self.streams:
                raise CommandError(43, f"cursor id {cursor_id} not found")
        stream.last_used = time.monotonic()
        if not alive:
            self.streams.pop(cursor_id, None)
        return {
            "cursor": {
                "nextBatch": batch,
                "postBatchResumeToken": encode_token(Token(stream.position)),
                "id": Int64(cursor_id if alive else 0),
                "ns": stream.namespace,
            },
            "operationTime": Timestamp(max(self.seconds, 1), 2 * self.seq + 1),
            "ok": 1.0,
        }

    async def _kill(self, ctx: Context) -> dict[str, Any]:
        ids = [int(i) for i in ctx.cmd["cursors"]]
        killed = [i for i in ids if self.streams.pop(i, None) is not None]
        rest = [i for i in ids if i not in killed]
        other_killed, not_found = ctx.server.cursors.kill(rest)
        return {
            "cursorsKilled": [Int64(i) for i in killed + other_killed],
            "cursorsNotFound": [Int64(i) for i in not_found],
            "cursorsAlive": [],
            "cursorsUnknown": [],
            "ok": 1.0,
        }

    def kill_session(self, lsid: bytes) -> None:
        for cursor_id, stream in list(self.streams.items()):
            if stream.session == lsid:
                del self.streams[cursor_id]

    def reap(self, idle_seconds: float = 600.0) -> None:
        now = time.monotonic()
        for cursor_id, stream in list(self.streams.items()):
            if now - stream.last_used > idle_seconds:
                del self.streams[cursor_id]


def _ddl(op: str, db: str, coll: str | None = None, **fields: Any) -> Change:
    """A catalog change, to be numbered when it is published."""
    return Change(0, 0, datetime.datetime.min, op, db, coll, **fields)


def _create_description(options: Mapping[str, Any]) -> dict[str, Any]:
    """A create event's operationDescription: a view's definition, or the _id index and options."""
    if "viewOn" in options:
        return {"viewOn": options["viewOn"], "pipeline": options.get("pipeline", [])}
    description = dict(options)
    if "clusteredIndex" not in options and "timeseries" not in options:
        description["idIndex"] = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
    return description


def _fatal(errmsg: str) -> CommandError:
    """ChangeStreamFatalError (280): the driver must not resume."""
    return CommandError(_FATAL, errmsg, labels=["NonResumableChangeStreamError"])


def _history_lost() -> CommandError:
    return CommandError(
        _HISTORY_LOST,
        "Resume of change stream was not possible, as the resume point may no longer be in "
        "the oplog.",
    )


def _is_replacement(ctx: Context) -> bool:
    """Whether the statement being run writes a whole replacement document (a 'replace' event).

    Only that statement's update counts: a bulk write may mix replacements
    and operator updates, and looking at all of them for every write made a
    command of n statements cost n squared.
    """
    if ctx.name == "update":
        updates = ctx.cmd.get("updates")
        index = ctx.statement
        if not isinstance(updates, list) or not 0 <= index < len(updates):
            return False
        statement = updates[index]
        spec = statement.get("u") if isinstance(statement, Mapping) else None
    elif ctx.name.lower() == "findandmodify":
        spec = ctx.cmd.get("update")
    else:
        return False
    return isinstance(spec, Mapping) and not any(str(k).startswith("$") for k in spec)
