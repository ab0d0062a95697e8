"""find's index options: hint, min and max bounds, returnKey and showRecordId."""

from collections.abc import Mapping
from typing import Any

from bson import Int64

from ..errors import CommandError
from ..evaluation.compare import sort_key
from ..evaluation.paths import get_path_values
from ..storage.indexes import Index, plan
from ..storage.store import Collection

__all__ = ["hinted_index", "key_index", "record_ids", "return_key", "within_bounds"]


def hinted_index(coll: Collection | None, hint: Any) -> Index | None:
    """The index a ``hint`` names (by name or key pattern); None for no hint or ``$natural``."""
    if hint is None or coll is None or hint == "":
        return None
    if isinstance(hint, Mapping) and "$natural" in hint:
        return None
    if isinstance(hint, str):
        found = coll.indexes.get(hint)
    elif isinstance(hint, Mapping):
        wanted = list(hint.items())
        found = next((i for i in coll.indexes.values() if list(i.spec.key) == wanted), None)
    else:
        raise CommandError(14, "hint must be a string or an object")
    if found is None or found.spec.hidden:
        raise CommandError(
            2,
            "error processing query: planner returned error :: caused by :: "
            "hint provided does not correspond to an existing index",
        )
    return found


def _index_values(index: Index, doc: Mapping[str, Any]) -> list[Any]:
    values = []
    for path, _ in index.spec.key:
        found = get_path_values(doc, path)
        values.append(found[0] if found else None)
    return values


def within_bounds(
    index: Index | None,
    low: Mapping[str, Any] | None,
    high: Mapping[str, Any] | None,
    docs: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The documents whose key in ``index`` is at least ``low`` and below ``high``."""
    if low is None and high is None:
        return docs
    if index is None:
        raise CommandError(
            51173, "When using min()/max() a hint of which index to use must be provided"
        )
    fields = [path for path, _ in index.spec.key]
    directions = [-1 if direction == -1 else 1 for _, direction in index.spec.key]
    for bound in (low, high):
        if bound is not None and list(bound) != fields:
            raise CommandError(51174, "The index chosen is not consistent with min/max")

    def compare(doc: Mapping[str, Any], bound: Mapping[str, Any]) -> int:
        for value, limit, direction in zip(
            _index_values(index, doc), bound.values(), directions, strict=True
        ):
            a, b = sort_key(value), sort_key(limit)
            if a != b:
                return direction if a > b else -direction
        return 0

    return [
        doc
        for doc in docs
        if (low is None or compare(doc, low) >= 0) and (high is None or compare(doc, high) < 0)
    ]


def key_index(
    coll: Collection | None,
    hinted: Index | None,
    filter: Mapping[str, Any],
    sort: Mapping[str, Any] | None,
) -> Index | None:
    """The index a plan would read: the hinted one, one giving the sort order, or one the filter narrows."""
    if hinted is not None or coll is None:
        return hinted
    if sort:
        first = next(iter(sort))
        for index in coll.indexes.values():
            if not index.spec.is_text and index.spec.key[0][0] == first:
                return index
    if filter:
        return plan(list(coll.indexes.values()), filter)[0]
    return None


def return_key(index: Index | None, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """returnKey: each document's key in the index read, or an empty document without one."""
    if index is None:
        return [{} for _ in docs]
    return [
        dict(zip([path for path, _ in index.spec.key], _index_values(index, doc), strict=True))
        for doc in docs
    ]


def record_ids(coll: Collection | None, docs: list[dict[str, Any]]) -> dict[Any, Int64]:
    """showRecordId: a document's position in the collection's insertion order, from 1."""
    if coll is None:
        return {}
    wanted = {coll.key_of(doc) for doc in docs if "_id" in doc}
    return {
        key: Int64(position) for position, key in enumerate(coll.versions, start=1) if key in wanted
    }
