"""Consistency as commands state it: cluster time in replies, read concern, write concern.

The store's commit clock is the server's cluster time: clock value ``n`` is
sent as ``Timestamp(epoch, n)``, where ``epoch`` is the second the server
started, so times only grow, across restarts too. Every reply carries
``operationTime`` and ``$clusterTime``, which is what lets drivers run causally
consistent sessions (``afterClusterTime``) and snapshot sessions
(``atClusterTime``). On a single node every committed write is visible to the
next read, so ``afterClusterTime`` needs no wait; a time this server never
reached is refused.

Write concerns are checked as a one-member replica set checks them: ``w``
above 1 cannot be satisfied (UnsatisfiableWriteConcern, 100) and a named mode
other than ``majority`` does not exist (UnknownReplWriteConcern, 79).
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import Int64, Timestamp

from .errors import CommandError
from .storage.store import Store, WriteSet

__all__ = [
    "ClusterClock",
    "ReadConcern",
    "SnapshotReads",
    "check_write_concern",
    "parse_read_concern",
]

# Commands that accept readConcern level "snapshot" outside a transaction (MongoDB 7.0).
_SNAPSHOT_COMMANDS = frozenset({"find", "aggregate", "distinct"})
_LEVELS = frozenset({"local", "majority", "linearizable", "available", "snapshot"})
# Commands whose writeConcern the server must honour or refuse.
_WRITE_CONCERN_COMMANDS = frozenset(
    {
        "insert",
        "update",
        "delete",
        "findAndModify",
        "findandmodify",
        "create",
        "drop",
        "dropDatabase",
        "createIndexes",
        "dropIndexes",
        "deleteIndexes",
        "renameCollection",
        "collMod",
        "commitTransaction",
        "abortTransaction",
        "aggregate",
    }
)


class ClusterClock:
    """Turns commit-clock values into BSON timestamps and back."""

    def __init__(self, epoch: int | None = None) -> None:
        self.epoch = int(time.time()) if epoch is None else epoch

    def timestamp(self, clock: int) -> Timestamp:
        return Timestamp(self.epoch, clock)

    def clock(self, ts: Timestamp) -> int:
        """The clock value of a timestamp; times before this server's start map below zero."""
        if ts.time < self.epoch:
            return -1
        if ts.time > self.epoch:
            return 2**63
        return int(ts.inc)

    def gossip(self, reply: dict[str, Any], clock: int) -> None:
        """Add ``operationTime`` and ``$clusterTime`` to a reply, as a replica set member does."""
        ts = self.timestamp(clock)
        reply.setdefault("operationTime", ts)
        reply["$clusterTime"] = {
            "clusterTime": ts,
            "signature": {"hash": b"\x00" * 20, "keyId": Int64(0)},
        }


@dataclass(frozen=True)
class ReadConcern:
    """What a command's readConcern asks for."""

    level: str | None = None
    at_cluster_time: Timestamp | None = None
    after_cluster_time: Timestamp | None = None

    @property
    def snapshot(self) -> bool:
        return self.level == "snapshot"


def parse_read_concern(name: str, cmd: Mapping[str, Any], in_transaction: bool) -> ReadConcern:
    """Validate a command's readConcern as MongoDB 7.0 does."""
    raw = cmd.get("readConcern")
    if raw is None:
        return ReadConcern()
    if not isinstance(raw, Mapping):
        raise CommandError(14, "BSON field 'readConcern' is the wrong type, expected type 'object'")
    level = raw.get("level")
    if level is not None and level not in _LEVELS:
        raise CommandError(
            2,
            f"Enumeration value '{level}' for field 'readConcern.level' is not a valid value.",
        )
    at = raw.get("atClusterTime")
    after = raw.get("afterClusterTime")
    for key, value in (("atClusterTime", at), ("afterClusterTime", after)):
        if value is not None and not isinstance(value, Timestamp):
            raise CommandError(
                14, f"BSON field 'readConcern.{key}' is the wrong type, expected type 'timestamp'"
            )
    if at is not None and level != "snapshot":
        raise CommandError(
            72, "readConcern.atClusterTime is not valid unless readConcern.level is 'snapshot'"
        )
    if at is not None and after is not None:
        raise CommandError(
            72,
            "Specifying a timestamp for readConcern snapshot in a causally consistent session "
            "is not allowed",
        )
    if level == "snapshot" and not in_transaction and name not in _SNAPSHOT_COMMANDS:
        raise CommandError(
            72,
            f'Command {name} does not support readConcern {{ level: "snapshot" }} outside a '
            "multi-document transaction",
        )
    return ReadConcern(level, at, after)


def check_write_concern(name: str, cmd: Mapping[str, Any]) -> None:
    """Refuse a write concern a one-member replica set cannot satisfy."""
    if name not in _WRITE_CONCERN_COMMANDS:
        return
    raw = cmd.get("writeConcern")
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        raise CommandError(
            14, "BSON field 'writeConcern' is the wrong type, expected type 'object'"
        )
    w = raw.get("w")
    if isinstance(w, str):
        if w != "majority":
            raise CommandError(
                79, f"No write concern mode named '{w}' found in replica set configuration"
            )
    elif isinstance(w, int | float) and not isinstance(w, bool):
        if w < 0:
            raise CommandError(9, "w has to be a non-negative number and not greater than 50")
        if w > 1:
            raise CommandError(100, "Not enough data-bearing nodes")
    elif w is not None and not isinstance(w, Mapping):
        raise CommandError(14, "w has to be a number, a string or an object")


class SnapshotReads:
    """The snapshots that snapshot sessions read at, kept until the session ends.

    A session's first snapshot read opens a read-only write set at the current
    clock; its later reads name that time (``atClusterTime``) and reuse it, and
    the store keeps every version that snapshot can see until the session ends
    or is reaped. A time no open snapshot holds, other than the present, can no
    longer be read: SnapshotTooOld (239), as MongoDB answers past its history
    window.
    """

    def __init__(self, store: Store, clock: ClusterClock) -> None:
        self.store = store
        self.clock = clock
        self.by_session: dict[bytes, WriteSet] = {}

    def open(self, lsid: bytes | None, at: Timestamp | None) -> WriteSet:
        if at is None:
            wanted = self.store.clock
        else:
            wanted = self.clock.clock(at)
            if wanted > self.store.clock:
                raise CommandError(
                    72, f"readConcern.atClusterTime {at} is ahead of the cluster time"
                )
        held = self.by_session.get(lsid) if lsid is not None else None
        if held is not None and held.snapshot_ts == wanted:
            return held
        for ws in self.by_session.values():
            if ws.snapshot_ts == wanted:
                return self._hold(lsid, ws)
        if wanted != self.store.clock:
            raise CommandError(
                239, f"Read timestamp {at} is older than the oldest available timestamp."
            )
        return self._hold(lsid, self.store.begin())

    def _hold(self, lsid: bytes | None, ws: WriteSet) -> WriteSet:
        if lsid is not None:
            previous = self.by_session.get(lsid)
            self.by_session[lsid] = ws
            if previous is not None and previous is not ws:
                self._release_unless_shared(previous)
        return ws

    def release(self, lsid: bytes) -> None:
        ws = self.by_session.pop(lsid, None)
        if ws is not None:
            self._release_unless_shared(ws)

    def done(self, ws: WriteSet) -> None:
        """A read without a session has finished with its snapshot."""
        self._release_unless_shared(ws)

    def reap(self, live: set[bytes]) -> None:
        for lsid in [key for key in self.by_session if key not in live]:
            self.release(lsid)

    def _release_unless_shared(self, ws: WriteSet) -> None:
        if all(other is not ws for other in self.by_session.values()):
            self.store.abort(ws)
