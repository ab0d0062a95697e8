"""Capped collections: the oldest documents make room for new ones; tailable cursors follow the end.

A capped collection keeps documents in insertion order (its natural order),
at most ``max`` of them and about ``size`` bytes of BSON; an insert past
either limit deletes the oldest documents, journalled with the insert. A
tailable cursor stays open at the end of the collection: each getMore
returns the matching documents inserted since its last one.
"""

from collections.abc import Callable
from typing import Any

import bson

from ..errors import CommandError
from ..evaluation.matcher import Matcher
from ..storage.store import Collection, IdKey
from ..wire import CODEC_OPTIONS
from ._base import Context

__all__ = ["check_capped_options", "is_capped", "last_key", "tail", "trim"]


def is_capped(coll: Collection | None) -> bool:
    return coll is not None and bool(coll.options.get("capped"))


def check_capped_options(options: dict[str, Any]) -> None:
    """``create``'s capped, size and max, in the form listCollections shows."""
    size, most = options.pop("size", None), options.pop("max", None)
    if not options.get("capped"):
        options.pop("capped", None)
        return
    if isinstance(size, bool) or not isinstance(size, int | float) or size <= 0:
        raise CommandError(72, "the 'size' field is required when 'capped' is true")
    if size > 2**50:
        raise CommandError(72, "the 'size' field of a capped collection is too large")
    options["capped"] = True
    # mongod rounds the size up to a multiple of 256 bytes, 4096 at least.
    options["size"] = max(4096, -(-int(size) // 256) * 256)
    if most is not None:
        if isinstance(most, bool) or not isinstance(most, int | float):
            raise CommandError(14, "the 'max' field of a capped collection must be a number")
        if 0 < most < 2**31:
            options["max"] = int(most)


def trim(ctx: Context, coll: Collection) -> None:
    """Delete the oldest documents while the collection is past its limits."""
    most = coll.options.get("max")
    size_limit = int(coll.options["size"])
    documents = list(coll.iter_latest())
    sizes = [len(bson.encode(doc, codec_options=CODEC_OPTIONS)) for _, doc in documents]
    total = sum(sizes)
    count = len(documents)
    for (key, doc), size in zip(documents, sizes, strict=True):
        if count <= 1 or ((most is None or count <= most) and total <= size_limit):
            break
        ctx.write(coll, key, None, doc["_id"])
        count -= 1
        total -= size


def tail(
    coll: Collection, matcher: Matcher, last: IdKey | None
) -> Callable[[], tuple[list[dict[str, Any]], IdKey | None]]:
    """For a tailable cursor: a call that returns the matching documents after the last seen.

    The cursor is lost (CappedPositionLost) once the document it stopped at
    has been deleted to make room.
    """
    position = last

    def more() -> tuple[list[dict[str, Any]], IdKey | None]:
        nonlocal position
        found: list[dict[str, Any]] = []
        seen = position is None
        for key, doc in coll.iter_latest():
            if seen:
                if matcher.matches(doc):
                    found.append(doc)
                position = key
            elif key == position:
                seen = True
        if not seen:
            raise CommandError(
                136,
                f"CollectionScan died due to position in capped collection {coll.namespace} being deleted",
            )
        return found, position

    return more


def last_key(coll: Collection) -> IdKey | None:
    """The newest document's key: where a tailable cursor over everything so far stops."""
    last = None
    for key, _ in coll.iter_latest():
        last = key
    return last
