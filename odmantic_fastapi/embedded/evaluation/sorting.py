"""Sort specifications compiled into key functions with MongoDB's ordering rules."""

from collections.abc import Callable, Mapping, Sequence
from functools import total_ordering
from typing import Any

import bson

from ..errors import CommandError
from ..wire import CODEC_OPTIONS
from .collation import Collation, collated
from .compare import sort_key
from .paths import get_path_values

__all__ = ["SORT_MEMORY_LIMIT", "check_sort_memory", "compile_sort", "sort_value_key"]

_NULL_KEY = sort_key(None)


@total_ordering
class _Descending:
    """Wraps a key so that it orders in reverse inside a tuple key."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    def __lt__(self, other: "_Descending") -> bool:
        return self.key > other.key

    def __hash__(self) -> int:
        return hash(self.key)


def sort_value_key(doc: Mapping[str, Any], path: str, descending: bool) -> tuple[Any, ...]:
    """The key a document sorts by on one field: arrays by their smallest (largest) element."""
    values = get_path_values(doc, path)
    if not values:
        return _NULL_KEY
    keys: list[tuple[Any, ...]] = []
    for value in values:
        if isinstance(value, list):
            keys.extend(sort_key(v) for v in value) if value else keys.append(sort_key([]))
        else:
            keys.append(sort_key(value))
    return max(keys) if descending else min(keys)


def compile_sort(
    spec: Mapping[str, Any] | None, collation: Collation | None = None
) -> Callable[[Mapping[str, Any]], Any] | None:
    """A key function for ``list.sort`` implementing ``spec``, or None when there is nothing to sort.

    With a ``collation``, strings sort by it.
    """
    key = _compile_sort(spec)
    return collated(collation, key) if key is not None else None


def _compile_sort(spec: Mapping[str, Any] | None) -> Callable[[Mapping[str, Any]], Any] | None:
    if not spec:
        return None
    if not isinstance(spec, Mapping):
        raise CommandError(2, "sort must be an object")
    fields: list[tuple[str, bool]] = []
    for path, direction in spec.items():
        if isinstance(direction, Mapping):
            raise CommandError(2, f"$meta sort on '{path}' is not supported by the embedded server")
        if direction in (1, -1) and not isinstance(direction, bool):
            fields.append((path, direction == -1))
        else:
            raise CommandError(
                15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)"
            )
    if len(fields) == 1:
        path, descending = fields[0]
        if descending:
            return lambda doc: _Descending(sort_value_key(doc, path, True))
        return lambda doc: sort_value_key(doc, path, False)

    def key(doc: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            _Descending(sort_value_key(doc, p, True)) if d else sort_value_key(doc, p, False)
            for p, d in fields
        )

    return key


# What a blocking sort (or $group) may hold without allowDiskUse, as in MongoDB.
SORT_MEMORY_LIMIT = 100 * 1024 * 1024


def check_sort_memory(
    docs: Sequence[Mapping[str, Any]], allow_disk_use: bool, what: str = "Sort"
) -> None:
    """Raise 292 when ``docs`` hold more than 100 MB (estimated from a sample of ~1,000)."""
    if allow_disk_use or not docs:
        return
    step = max(1, len(docs) // 1024)
    sample = docs[::step]
    sampled = sum(len(bson.encode(doc, codec_options=CODEC_OPTIONS)) for doc in sample)
    estimate = sampled * len(docs) // len(sample)
    if estimate > SORT_MEMORY_LIMIT:
        raise CommandError(
            292,
            f"{what} exceeded memory limit of {SORT_MEMORY_LIMIT} bytes (about {estimate} bytes), "
            "but did not opt in to external sorting. Pass allowDiskUse:true to opt in.",
        )
