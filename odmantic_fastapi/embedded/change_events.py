"""Change events as MongoDB shapes them: resume tokens, update descriptions, event documents.

A :class:`Change` is what the server records when a write commits (cheap: the
documents are immutable references); :func:`event_document` turns it into the
document a change stream returns, with the options of that stream.
"""

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import Binary, Timestamp

from .errors import CommandError

__all__ = [
    "EXPANDED_OPERATIONS",
    "Change",
    "Token",
    "collection_uuid",
    "decode_token",
    "encode_token",
    "operation_time",
    "update_description",
]

# MongoDB's error when a required pre- or post-image is missing.
_NO_MATCHING_DOCUMENT = 47

#: The events only a stream opened with ``showExpandedEvents: true`` sees.
EXPANDED_OPERATIONS = frozenset({"create", "createIndexes", "dropIndexes", "modify"})


def collection_uuid(db: str, name: str) -> Binary:
    """The collection's UUID, as listCollections and expanded change events report it."""
    return Binary(uuid.uuid5(uuid.NAMESPACE_URL, f"{db}.{name}").bytes, 4)


@dataclass(frozen=True, slots=True)
class Token:
    """A position in the change history: after event ``seq`` (``invalidate`` for its invalidate)."""

    seq: int
    invalidate: bool = False


def encode_token(token: Token) -> dict[str, Any]:
    """The resume token document (``{_data: hex}``) drivers treat as opaque."""
    return {"_data": f"82{token.seq:016X}{int(token.invalidate):02X}"}


def decode_token(value: Any) -> Token:
    """Parse a resume token sent back by a client; raises BadValue for a foreign one."""
    data = value.get("_data") if isinstance(value, Mapping) else None
    if not isinstance(data, str) or len(data) != 20 or not data.startswith("82"):
        raise CommandError(2, f"Invalid resume token: {value!r}")
    try:
        return Token(int(data[2:18], 16), bool(int(data[18:], 16)))
    except ValueError:
        raise CommandError(2, f"Invalid resume token: {value!r}") from None


def operation_time(seconds: int, seq: int) -> Timestamp:
    """The cluster time after event ``seq``: later than it, earlier than the next one."""
    return Timestamp(seconds, 2 * seq + 1)


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change, as recorded: enough to build its event for any stream."""

    seq: int
    seconds: int
    wall: datetime.datetime
    # insert, update, replace, delete, drop, rename, dropDatabase, and EXPANDED_OPERATIONS
    op: str
    db: str
    coll: str | None = None
    id_value: Any = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    images: bool = False  # the collection records pre- and post-images
    to: tuple[str, str] | None = None
    lsid: dict[str, Any] | None = None
    txn_number: int | None = None
    description: dict[str, Any] | None = None  # operationDescription, for expanded events

    @property
    def cluster_time(self) -> Timestamp:
        return Timestamp(self.seconds, 2 * self.seq)

    def event_document(
        self,
        full_document: str,
        before_change: str,
        current: dict[str, Any] | None,
        expanded: bool = False,
    ) -> dict[str, Any]:
        """The event for a stream with these options; ``current`` is the document now.

        ``expanded`` (``showExpandedEvents``) adds ``collectionUUID``,
        ``operationDescription`` and ``updateDescription.disambiguatedPaths``.
        """
        event: dict[str, Any] = {
            "_id": encode_token(Token(self.seq)),
            "operationType": self.op,
            "clusterTime": self.cluster_time,
            "wallTime": self.wall,
        }
        if self.op == "dropDatabase":
            event["ns"] = {"db": self.db}
        else:
            event["ns"] = {"db": self.db, "coll": self.coll}
        if expanded and self.coll is not None:
            event["collectionUUID"] = collection_uuid(self.db, self.coll)
        if self.op == "rename" and self.to is not None:
            event["to"] = {"db": self.to[0], "coll": self.to[1]}
        if expanded and self.description is not None:
            event["operationDescription"] = self.description
        if self.op in ("insert", "update", "replace", "delete"):
            event["documentKey"] = {"_id": self.id_value}
        if self.op in ("insert", "replace"):
            event["fullDocument"] = self.after
        elif self.op == "update":
            assert self.before is not None and self.after is not None
            event["updateDescription"] = update_description(
                self.before, self.after, disambiguate=expanded
            )
            if full_document == "updateLookup":
                event["fullDocument"] = current
            elif full_document in ("whenAvailable", "required"):
                if not self.images and full_document == "required":
                    raise CommandError(
                        _NO_MATCHING_DOCUMENT,
                        "Change stream was configured to require a post-image for all update, "
                        "delete and replace events, but the post-image was not found for event: "
                        f"{self.db}.{self.coll}",
                    )
                event["fullDocument"] = self.after if self.images else None
        if self.op in ("update", "replace", "delete") and before_change != "off":
            if not self.images and before_change == "required":
                raise CommandError(
                    _NO_MATCHING_DOCUMENT,
                    "Change stream was configured to require a pre-image for all update, delete "
                    f"and replace events, but the pre-image was not found for event: "
                    f"{self.db}.{self.coll}",
                )
            event["fullDocumentBeforeChange"] = self.before if self.images else None
        if self.lsid is not None:
            event["lsid"] = self.lsid
            event["txnNumber"] = self.txn_number
        return event


def invalidate_event(seq: int, seconds: int, wall: datetime.datetime) -> dict[str, Any]:
    """The event that ends a collection or database stream, with its startAfter token."""
    return {
        "_id": encode_token(Token(seq, invalidate=True)),
        "operationType": "invalidate",
        "clusterTime": Timestamp(seconds, 2 * seq),
        "wallTime": wall,
    }


def update_description(
    before: Mapping[str, Any], after: Mapping[str, Any], *, disambiguate: bool = False
) -> dict[str, Any]:
    """``updatedFields``, ``removedFields`` and ``truncatedArrays`` between two versions.

    ``disambiguate`` adds ``disambiguatedPaths`` when a path could be read two
    ways: one with a numeric field name or an array index, each path given as
    its parts (field names as strings, array indices as integers).
    """
    updated: dict[str, Any] = {}
    removed: list[str] = []
    truncated: list[dict[str, Any]] = []
    parts: dict[str, tuple[str | int, ...]] = {}
    _diff(before, after, (), _Changes(updated, removed, truncated, parts))
    description: dict[str, Any] = {
        "updatedFields": updated,
        "removedFields": removed,
        "truncatedArrays": truncated,
    }
    if disambiguate:
        ambiguous = {
            path: list(path_parts)
            for path, path_parts in parts.items()
            if any(isinstance(part, int) or part.isdigit() for part in path_parts)
        }
        if ambiguous:
            description["disambiguatedPaths"] = ambiguous
    return description


@dataclass(frozen=True, slots=True)
class _Changes:
    """Where the diff writes: the three lists of an update description, and each path's parts."""

    updated: dict[str, Any]
    removed: list[str]
    truncated: list[dict[str, Any]]
    parts: dict[str, tuple[str | int, ...]]

    def path(self, parts: tuple[str | int, ...]) -> str:
        path = ".".join(str(part) for part in parts)
        self.parts[path] = parts
        return path


def _diff(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    prefix: tuple[str | int, ...],
    out: _Changes,
) -> None:
    for key, value in after.items():
        parts = (*prefix, key)
        if key not in before:
            out.updated[out.path(parts)] = value
            continue
        old = before[key]
        if _same(old, value):
            continue
        if isinstance(old, dict) and isinstance(value, dict):
            _diff(old, value, parts, out)
        elif isinstance(old, list) and isinstance(value, list):
            _diff_array(old, value, parts, out)
        else:
            out.updated[out.path(parts)] = value
    out.removed.extend(out.path((*prefix, key)) for key in before if key not in after)


def _diff_array(
    old: list[Any], new: list[Any], parts: tuple[str | int, ...], out: _Changes
) -> None:
    common = min(len(old), len(new))
    changed = [i for i in range(common) if not _same(old[i], new[i])]
    # A document element changed in place is described field by field ("a.0.x"), as
    # MongoDB describes a $set of "a.0.x"; other elements are replaced by index.
    replaced = {i for i in changed if not (isinstance(old[i], dict) and isinstance(new[i], dict))}
    if len(replaced) > common // 2 and replaced:
        out.updated[out.path(parts)] = new  # mostly rewritten: MongoDB sends the whole array
        return
    if len(new) < len(old):
        out.truncated.append({"field": out.path(parts), "newSize": len(new)})
    for i in changed:
        if i in replaced:
            out.updated[out.path((*parts, i))] = new[i]
        else:
            _diff(old[i], new[i], (*parts, i), out)
    for i in range(common, len(new)):
        out.updated[out.path((*parts, i))] = new[i]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b
