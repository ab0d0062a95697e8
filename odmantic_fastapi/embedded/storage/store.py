"""The multi-version document store: collections, snapshots, write sets, locks and indexes.

Every document id maps to a chain of committed versions ``(commit_ts, doc)``;
a reader at snapshot ``ts`` sees the newest version committed at or before
``ts``. A transaction reads its snapshot overlaid with its own write set and
publishes the write set under one new timestamp at commit, so nobody sees its
writes before then and all of them at once after.

Write conflicts follow MongoDB: a transaction that writes a document written by
another open transaction, or committed after its snapshot, gets WriteConflict
(112, TransientTransactionError). Writes outside transactions never conflict:
they wait for the open transaction holding the document to finish.

Stored documents are never mutated: an update builds a new dict, so readers and
cursors can hold references to old versions safely.

All methods run on the server's event loop thread; only waiting for a lock
yields, so each method is atomic with respect to other clients.
"""

import asyncio
import datetime
import heapq
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import WriteConflict
from ..evaluation import budget
from ..evaluation.compare import datetime_ms, sort_key
from ..evaluation.matcher import Matcher
from .index_build import IndexBuild
from .indexes import Index, IndexSpec, duplicate_key, parse_index_spec, plan

__all__ = [
    "AppliedWrite",
    "Collection",
    "IdKey",
    "LockWait",
    "Store",
    "WriteSet",
]

IdKey = tuple[Any, ...]
Version = tuple[int, dict[str, Any] | None]
Namespace = str


def id_key(value: Any) -> IdKey:
    """The hashable, ordered identity of an ``_id`` value."""
    return sort_key(value)


class LockWait(Exception):
    """A write outside a transaction must wait for ``owner`` to commit or abort."""

    def __init__(self, owner: "WriteSet") -> None:
        super().__init__("document is held by an open transaction")
        self.owner = owner


@dataclass(eq=False)
class WriteSet:
    """A transaction's private view: its snapshot, its writes, and what it holds.

    ``writes`` keeps the first-write order per collection so that committed
    inserts appear in the order the transaction made them.
    """

    snapshot_ts: int
    writes: dict[Namespace, dict[IdKey, dict[str, Any] | None]] = field(default_factory=dict)
    locks: set[tuple[Namespace, IdKey]] = field(default_factory=set)
    reservations: set[tuple[Namespace, str, tuple[Any, ...]]] = field(default_factory=set)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    # Collections this transaction created (explicitly, by an insert or by
    # createIndexes): nobody else sees them until the commit publishes them.
    created: dict[Namespace, "Collection"] = field(default_factory=dict)
    # Their catalog changes, journalled with the commit.
    catalog: list[dict[str, Any]] = field(default_factory=list)

    def written(self, ns: Namespace, key: IdKey) -> bool:
        return key in self.writes.get(ns, ())

    @property
    def operation_count(self) -> int:
        return sum(len(w) for w in self.writes.values())


class Collection:
    """One collection's versions and indexes."""

    def __init__(self, db: str, name: str, options: Mapping[str, Any] | None = None) -> None:
        self.db = db
        self.name = name
        self.options: dict[str, Any] = dict(options or {})
        self.versions: dict[IdKey, list[Version]] = {}
        id_spec = parse_index_spec({"key": {"_id": 1}, "name": "_id_"})
        self.indexes: dict[str, Index] = {"_id_": Index(id_spec)}
        self.live_count = 0
        # Indexes being built in steps (see index_build): they get every write meanwhile.
        self.builds: list[IndexBuild] = []

    @property
    def namespace(self) -> Namespace:
        return f"{self.db}.{self.name}"

    def key_value(self, doc: Mapping[str, Any]) -> Any:
        """What identifies ``doc`` here: its _id, or in a time-series collection (where _ids
        may repeat) its _id with its time."""
        timeseries = self.options.get("timeseries")
        if timeseries is None:
            return doc["_id"]
        return {"_id": doc.get("_id"), "t": doc.get(timeseries["timeField"])}

    def key_of(self, doc: Mapping[str, Any]) -> IdKey:
        return id_key(self.key_value(doc))

    @property
    def secondary_indexes(self) -> list[Index]:
        return [idx for name, idx in self.indexes.items() if name != "_id_"]

    @property
    def text_index(self) -> Index | None:
        for idx in self.indexes.values():
            if any(direction == "text" for _, direction in idx.spec.key):
                return idx
        return None

    def latest(self, key: IdKey) -> dict[str, Any] | None:
        chain = self.versions.get(key)
        return chain[-1][1] if chain else None

    def latest_ts(self, key: IdKey) -> int:
        chain = self.versions.get(key)
        return chain[-1][0] if chain else -1

    def visible(self, key: IdKey, ts: int) -> dict[str, Any] | None:
        chain = self.versions.get(key)
        if not chain:
            return None
        for version_ts, doc in reversed(chain):
            if version_ts <= ts:
                return doc
        return None

    def add_version(self, key: IdKey, ts: int, doc: dict[str, Any] | None) -> None:
        chain = self.versions.setdefault(key, [])
        before = chain[-1][1] if chain else None
        chain.append((ts, doc))
        if doc is not None:
            for idx in self.indexes.values():
                idx.add(key, doc)
            for build in self.builds:
                build.added(key, doc)
        self.live_count += (doc is not None) - (before is not None)

    def collect(self, key: IdKey, oldest_needed_ts: int) -> None:
        """Drop versions no open snapshot can see any more."""
        chain = self.versions.get(key)
        if not chain:
            return
        keep_from = 0
        for i in range(len(chain) - 1, -1, -1):
            if chain[i][0] <= oldest_needed_ts:
                keep_from = i
                break
        for _, doc in chain[:keep_from]:
            if doc is not None:
                for idx in self.indexes.values():
                    idx.remove(key, doc)
                for build in self.builds:
                    build.removed(key, doc)
        del chain[:keep_from]
        if len(chain) == 1 and chain[0][1] is None and chain[0][0] <= oldest_needed_ts:
            del self.versions[key]

    def add_index(self, spec: IndexSpec) -> Index:
        """Build an index over every kept version at once, and publish it.

        Raises DuplicateKey for unique violations (nothing is published then).
        """
        build = IndexBuild(self, spec)
        try:
            build.step(len(self.versions))
            build.publish()
        finally:
            build.end()
        return build.index

    def iter_latest(self) -> Iterator[tuple[IdKey, dict[str, Any]]]:
        for key, chain in self.versions.items():
            doc = chain[-1][1]
            if doc is not None:
                yield key, doc


@dataclass(frozen=True, slots=True)
class AppliedWrite:
    """One document write published by a commit, for the journal."""

    collection: Collection
    key: IdKey
    id_value: Any
    doc: dict[str, Any] | None


class Store:
    """All databases, the commit clock, and the locks of open transactions."""

    def __init__(self) -> None:
        self.clock = 0
        self.databases: dict[str, dict[str, Collection]] = {}
        self.locks: dict[tuple[Namespace, IdKey], WriteSet] = {}
        self.reservations: dict[tuple[Namespace, str, tuple[Any, ...]], WriteSet] = {}
        self.open_write_sets: set[WriteSet] = set()
        self._needs_collection: set[tuple[Namespace, IdKey]] = set()
        # Timestamps that scans still read at (see _Pin).
        self._pins: list[int] = []

    # -- catalog ---------------------------------------------------------

    def collection(self, db: str, name: str) -> Collection | None:
        return self.databases.get(db, {}).get(name)

    def collection_in(self, db: str, name: str, ws: WriteSet | None) -> Collection | None:
        """The collection as ``ws`` sees it: committed, or created by that transaction."""
        found = self.databases.get(db, {}).get(name)
        if found is None and ws is not None and ws.created:
            return ws.created.get(f"{db}.{name}")
        return found

    def ensure_collection(
        self, db: str, name: str, options: Mapping[str, Any] | None = None
    ) -> tuple[Collection, bool]:
        """The collection, created if missing; the flag says whether it was created."""
        colls = self.databases.setdefault(db, {})
        existing = colls.get(name)
        if existing is not None:
            return existing, False
        coll = Collection(db, name, options)
        colls[name] = coll
        return coll, True

    def drop_collection(self, db: str, name: str) -> bool:
        colls = self.databases.get(db)
        if not colls or name not in colls:
            return False
        coll = colls.pop(name)
        ns = coll.namespace
        for ws in list(self.open_write_sets):
            if ns in ws.writes:
                ws.writes.pop(ns)
        self.locks = {k: v for k, v in self.locks.items() if k[0] != ns}
        self.reservations = {k: v for k, v in self.reservations.items() if k[0] != ns}
        if not colls:
            del self.databases[db]
        return True

    def drop_database(self, db: str) -> None:
        for name in list(self.databases.get(db, {})):
            self.drop_collection(db, name)
        self.databases.pop(db, None)

    # -- snapshots -------------------------------------------------------

    def begin(self) -> WriteSet:
        """Open a write set reading the current committed state."""
        ws = WriteSet(snapshot_ts=self.clock)
        self.open_write_sets.add(ws)
        return ws

    def oldest_snapshot(self) -> int:
        """The oldest timestamp an open transaction or a running scan still reads at."""
        oldest = min((ws.snapshot_ts for ws in self.open_write_sets), default=self.clock)
        return min(oldest, min(self._pins, default=oldest))

    # -- reads -----------------------------------------------------------

    def get(self, coll: Collection, key: IdKey, ws: WriteSet | None) -> dict[str, Any] | None:
        if ws is None:
            return coll.latest(key)
        pending = ws.writes.get(coll.namespace)
        if pending is not None and key in pending:
            return pending[key]
        return coll.visible(key, ws.snapshot_ts)

    def scan(
        self,
        coll: Collection,
        filter: Mapping[str, Any],
        matcher: Matcher,
        ws: WriteSet | None,
        *,
        heartbeat: bool = False,
    ) -> Iterator[dict[str, Any] | None]:
        """Documents matching ``filter`` as ``ws`` (or the latest state) sees them.

        Uses an index when one narrows the filter; candidates are always
        re-checked against the visible version, because indexes hold entries
        for every kept version. The candidates are fixed when the scan starts
        (latest versions outside a transaction, ``ws``'s snapshot inside one),
        so a consumer may pause between documents, write, or match in a worker
        thread (the documents are immutable) without the scan seeing later
        writes. With ``heartbeat`` it also yields None every few hundred
        candidates. It checks the command's maxTimeMS as it goes.
        """
        pending = ws.writes.get(coll.namespace, {}) if ws is not None else {}
        documents, covered = self._candidate_documents(coll, filter, matcher, ws)
        return self._matching(documents, covered, pending, matcher, heartbeat)

    @staticmethod
    def _matching(
        documents: Iterator[dict[str, Any] | None],
        covered: Container[IdKey],
        pending: Mapping[IdKey, dict[str, Any] | None],
        matcher: Matcher,
        heartbeat: bool,
    ) -> Iterator[dict[str, Any] | None]:
        for examined, doc in enumerate(documents):
            if examined & _CHECK_EVERY == _CHECK_EVERY:
                budget.check()
                if heartbeat:
                    yield None
            if doc is not None and matcher.matches(doc):
                yield doc
        for key, written in pending.items():
            if key not in covered and written is not None and matcher.matches(written):
                yield written

    def _candidate_documents(
        self, coll: Collection, filter: Mapping[str, Any], matcher: Matcher, ws: WriteSet | None
    ) -> tuple[Iterator[dict[str, Any] | None], Container[IdKey]]:
        """The versions to test, and the keys they cover (a transaction's other writes follow).

        The scan sees the collection as it is now: outside a transaction the
        newest versions, committed at or before the current clock; inside one,
        its snapshot overlaid with its own writes so far. A few candidates are
        read at once. Many are only named now (an index cannot be read from a
        worker thread while other writes change it), and their versions are read
        where the scan is consumed, at that timestamp, which stays pinned until
        the scan ends, so that no version it must see is dropped meanwhile. Read
        all at once, 100,000 candidates held the event loop (and every client)
        for 0.2 to 0.3 s.
        """
        candidates = self._candidates(coll, filter, matcher)
        versions = coll.versions
        if ws is None:
            ts, pending = self.clock, _NOTHING_PENDING
        else:
            # A copy: the consumer may write in the same transaction between two documents.
            ts, pending = ws.snapshot_ts, dict(ws.writes.get(coll.namespace, {}))
        if candidates is None:
            chains = dict(versions)
            covered: Container[IdKey] = chains if ws is not None else ()
            if len(chains) <= _READ_AT_ONCE:
                return iter(list(_resolve(chains.items(), ts, pending))), covered
            return _resolve(chains.items(), ts, pending, _Pin(self._pins, ts)), covered
        if len(candidates) == 1:  # a point lookup, by far the most frequent scan
            (key,) = candidates
            chain = versions.get(key)
            doc = pending[key] if key in pending else _visible(chain, ts) if chain else None
            return iter((doc,)), candidates
        if len(candidates) <= _READ_AT_ONCE:
            pairs = [(key, versions.get(key)) for key in candidates]
            pairs.sort(key=_first)
            return iter(list(_resolve(pairs, ts, pending))), candidates
        in_order = ((key, versions.get(key)) for key in _in_key_order(candidates))
        return _resolve(in_order, ts, pending, _Pin(self._pins, ts)), candidates

    def _candidates(
        self, coll: Collection, filter: Mapping[str, Any], matcher: Matcher
    ) -> set[IdKey] | None:
        id_value = filter.get("_id", _MISSING) if len(filter) == 1 else _MISSING
        collation = matcher.collation
        if (
            id_value is not _MISSING
            and not isinstance(id_value, Mapping | list)
            and (collation is None or not isinstance(id_value, str))
            and "timeseries" not in coll.options
        ):
            return {id_key(id_value)}
        if collation is not None:
            # Index keys compare strings by code point; a collated filter reads every document.
            return None
        if matcher.uses_text:
            text = coll.text_index
            if text is not None:
                return None  # the matcher scores text itself; a full scan stays correct
        _, candidates = plan(list(coll.indexes.values()), filter)
        return candidates

    # -- writes ----------------------------------------------------------

    def write(
        self,
        coll: Collection,
        key: IdKey,
        doc: dict[str, Any] | None,
        ws: WriteSet | None,
    ) -> int | None:
        """Insert, replace (doc) or delete (None) one document.

        In a transaction (``ws``) the write goes to the write set and takes the
        document's lock; outside one it commits at once under a new timestamp,
        which it returns. Raises WriteConflict or DuplicateKey as MongoDB would,
        or :class:`LockWait` when a non-transactional write must wait.
        """
        ns = coll.namespace
        if ws is not None:
            owner = self.locks.get((ns, key))
            if owner is not None and owner is not ws:
                raise WriteConflict()
            if not ws.written(ns, key) and coll.latest_ts(key) > ws.snapshot_ts:
                raise WriteConflict()
        else:
            owner = self.locks.get((ns, key))
            if owner is not None:
                raise LockWait(owner)
        reserved: list[tuple[Namespace, str, tuple[Any, ...]]] = []
        if doc is not None:
            reserved = self._check_unique(coll, key, doc, ws)
        if ws is None:
            self.clock += 1
            coll.add_version(key, self.clock, doc)
            self._collect_key(coll, key)
            return self.clock
        ws.writes.setdefault(ns, {})[key] = doc
        ws.locks.add((ns, key))
        self.locks[(ns, key)] = ws
        for item in reserved:
            ws.reservations.add(item)
            self.reservations[item] = ws
        return None

    def _check_unique(
        self, coll: Collection, key: IdKey, doc: Mapping[str, Any], ws: WriteSet | None
    ) -> list[tuple[Namespace, str, tuple[Any, ...]]]:
        ns = coll.namespace
        reserved: list[tuple[Namespace, str, tuple[Any, ...]]] = []
        pending = ws.writes.get(ns, {}) if ws is not None else {}
        for index in coll.indexes.values():
            if not index.spec.unique or index.spec.name == "_id_":
                continue
            for entry in index.entries(doc):
                for other in index.ids_with_entry(entry):
                    if other == key:
                        continue
                    current = pending[other] if other in pending else coll.latest(other)
                    if current is None or entry not in index.entries(current):
                        continue
                    if (
                        ws is not None
                        and other not in pending
                        and (coll.latest_ts(other) > ws.snapshot_ts)
                    ):
                        raise WriteConflict()
                    raise duplicate_key(coll.namespace, index, doc)
                for other, other_doc in pending.items():
                    if (
                        other != key
                        and other_doc is not None
                        and (entry in index.entries(other_doc))
                    ):
                        raise duplicate_key(coll.namespace, index, doc)
                item = (ns, index.spec.name, entry)
                holder = self.reservations.get(item)
                if holder is not None and holder is not ws:
                    if ws is None:
                        raise LockWait(holder)
                    raise WriteConflict()
                reserved.append(item)
        return reserved

    def commit(self, ws: WriteSet) -> tuple[int, list[AppliedWrite]]:
        """Publish a write set under one new timestamp; returns it and the applied writes."""
        applied: list[AppliedWrite] = []
        for coll in ws.created.values():
            existing = self.collection(coll.db, coll.name)
            if existing is None:
                self.databases.setdefault(coll.db, {})[coll.name] = coll
            else:
                # Created meanwhile outside the transaction: it keeps that one, with our indexes.
                for name, index in coll.indexes.items():
                    if name not in existing.indexes:
                        existing.add_index(index.spec)
        ws.created.clear()
        if ws.operation_count:
            self.clock += 1
            for ns, writes in ws.writes.items():
                db, _, name = ns.partition(".")
                coll, _ = self.ensure_collection(db, name)
                for key, doc in writes.items():
                    previous = coll.latest(key)
                    if doc is None and previous is None:
                        continue  # inserted and deleted by the same transaction
                    id_value = (doc if doc is not None else previous or {}).get("_id")
                    coll.add_version(key, self.clock, doc)
                    applied.append(AppliedWrite(coll, key, id_value, doc))
        self._release(ws)
        for write in applied:
            self._collect_key(write.collection, write.key)
        return self.clock, applied

    def abort(self, ws: WriteSet) -> None:
        """Discard exactly this write set's writes and release what it holds."""
        ws.writes.clear()
        ws.created.clear()
        ws.catalog.clear()
        self._release(ws)

    def _release(self, ws: WriteSet) -> None:
        for item in ws.locks:
            if self.locks.get(item) is ws:
                del self.locks[item]
        for reservation in ws.reservations:
            if self.reservations.get(reservation) is ws:
                del self.reservations[reservation]
        ws.locks.clear()
        ws.reservations.clear()
        self.open_write_sets.discard(ws)
        ws.finished.set()
        self.collect_pending()

    def _collect_key(self, coll: Collection, key: IdKey) -> None:
        chain = coll.versions.get(key)
        if chain is None:
            return
        coll.collect(key, self.oldest_snapshot())
        chain = coll.versions.get(key)
        if chain is not None and (len(chain) > 1 or chain[0][1] is None):
            self._needs_collection.add((coll.namespace, key))

    def collect_pending(self) -> None:
        """Drop the versions kept for snapshots that have ended since (a finished transaction, a scan)."""
        if not self._needs_collection:
            return
        oldest = self.oldest_snapshot()
        remaining: set[tuple[Namespace, IdKey]] = set()
        for ns, key in self._needs_collection:
            db, _, name = ns.partition(".")
            coll = self.collection(db, name)
            if coll is None:
                continue
            coll.collect(key, oldest)
            chain = coll.versions.get(key)
            if chain is not None and (len(chain) > 1 or chain[0][1] is None):
                remaining.add((ns, key))
        self._needs_collection = remaining

    # -- maintenance -----------------------------------------------------

    def expired_documents(self, now: datetime.datetime) -> Iterable[tuple[Collection, IdKey]]:
        """Documents past their TTL index's (or their collection's) expiry, for the reaper."""
        for colls in list(self.databases.values()):
            for coll in list(colls.values()):
                yield from _expired_by_collection(coll, now)
                for index in coll.secondary_indexes:
                    if index.spec.expire_after_seconds is None:
                        continue
                    for key in index.expired(now):
                        # The index also holds older versions: decide on the latest one.
                        latest = coll.latest(key)
                        if latest is not None and index.is_expired(latest, now):
                            yield coll, key


def _expired_by_collection(
    coll: Collection, now: datetime.datetime
) -> Iterator[tuple[Collection, IdKey]]:
    """A clustered or time-series collection's own expireAfterSeconds: by _id, or the time field."""
    seconds = coll.options.get("expireAfterSeconds")
    if seconds is None:
        return
    timeseries = coll.options.get("timeseries")
    field = timeseries["timeField"] if timeseries is not None else "_id"
    cutoff = datetime_ms(now) - int(seconds) * 1000
    for key, chain in list(coll.versions.items()):
        latest = chain[-1][1]
        value = latest.get(field) if latest is not None else None
        if isinstance(value, datetime.datetime) and datetime_ms(value) < cutoff:
            yield coll, key


_MISSING = object()
# Scans check maxTimeMS (and yield a heartbeat) once per this many candidates, plus one.
_CHECK_EVERY = 255


def _in_key_order(keys: Iterable[IdKey]) -> Iterator[IdKey]:
    """``keys`` sorted when first consumed, in runs that are then merged.

    A worker thread consuming a large scan so hands the GIL back between runs:
    one sort of 100,000 keys would hold it, and every client, for a tenth of a
    second.
    """
    listed = list(keys)
    runs = [sorted(listed[start : start + _SORT_RUN]) for start in range(0, len(listed), _SORT_RUN)]
    yield from heapq.merge(*runs)


def _resolve(
    chains: Iterable[tuple[IdKey, list[Version] | None]],
    ts: int,
    pending: Mapping[IdKey, dict[str, Any] | None],
    pin: "_Pin | None" = None,
) -> Iterator[dict[str, Any] | None]:
    """Each key's document as of ``ts`` (or its transaction's own write), None where deleted."""
    try:
        for key, chain in chains:
            if key in pending:
                yield pending[key]
            elif chain:
                # A copy: the event loop may drop older versions meanwhile.
                yield _visible(tuple(chain), ts)
            else:
                yield None
    finally:
        if pin is not None:
            pin.release()


class _Pin:
    """Keeps every version visible at ``ts`` while a scan reads them (see ``oldest_snapshot``).

    Released by the scan when it ends, or when it is dropped unread. A worker
    thread may release it: appending to and removing from a list are atomic.
    """

    __slots__ = ("_held", "_pins", "ts")

    def __init__(self, pins: list[int], ts: int) -> None:
        pins.append(ts)
        self._pins, self.ts, self._held = pins, ts, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._pins.remove(self.ts)

    def __del__(self) -> None:
        self.release()


def _first(pair: tuple[IdKey, Any]) -> IdKey:
    return pair[0]


_SORT_RUN = 4096
# Scans with at most this many candidates read their versions when they start.
_READ_AT_ONCE = 1024
_NOTHING_PENDING: Mapping[IdKey, dict[str, Any] | None] = {}


def _visible(chain: Sequence[Version], ts: int) -> dict[str, Any] | None:
    for version_ts, doc in reversed(chain):
        if version_ts <= ts:
            return doc
    return None
