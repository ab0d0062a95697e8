"""Secondary indexes (single, compound, multikey, unique, sparse, partial, text, TTL) and the planner.

An index maps entry tuples (one ``compare.sort_key`` per indexed field) to the
ids holding them, in a ``SortedDict`` so equality and range lookups cost
O(log n + k). Indexes are shared by every snapshot, so they hold entries of
every kept version (reference-counted per id) and a lookup returns a superset
of candidates that the store re-checks against the visible version.
"""

import datetime
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import Regex
from sortedcontainers import SortedDict

from ..errors import CommandError, DuplicateKey
from ..evaluation.collation import Collation, in_collation, parse_collation
from ..evaluation.compare import RANK_NULL, datetime_ms, is_number, sort_key
from ..evaluation.matcher import compile_filter
from ..evaluation.paths import get_path_values
from ..evaluation.text_search import text_tokens

__all__ = [
    "IdKey",
    "Index",
    "IndexSpec",
    "check_conflict",
    "default_index_name",
    "duplicate_key",
    "parse_index_spec",
    "plan",
]

IdKey = tuple[Any, ...]
Entry = tuple[Any, ...]

_RANK_DATE = 10
_NULL = sort_key(None)
_ALLOWED_OPTIONS = frozenset(
    {
        "key",
        "name",
        "unique",
        "sparse",
        "partialFilterExpression",
        "expireAfterSeconds",
        "weights",
        "default_language",
        "language_override",
        "textIndexVersion",
        "v",
        "background",
        "ns",
        "hidden",
        "collation",
    }
)


@dataclass(frozen=True)
class IndexSpec:
    """What ``createIndexes`` asked for, validated."""

    name: str
    key: tuple[tuple[str, int | str], ...]
    unique: bool = False
    sparse: bool = False
    partial_filter: Mapping[str, Any] | None = None
    expire_after_seconds: int | None = None
    weights: Mapping[str, int] | None = None
    default_language: str = "english"
    # Keys compare by this collation: uniqueness follows it; the planner skips the index.
    collation: Collation | None = None
    # Kept up to date but never chosen by the planner or a hint (collMod can unhide it).
    hidden: bool = False

    @property
    def is_text(self) -> bool:
        return any(direction == "text" for _, direction in self.key)

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.unique:
            options["unique"] = True
        if self.sparse:
            options["sparse"] = True
        if self.partial_filter is not None:
            options["partialFilterExpression"] = dict(self.partial_filter)
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        if self.is_text:
            options["weights"] = dict(self.weights or {p: 1 for p, d in self.key if d == "text"})
            options["default_language"] = self.default_language
        if self.collation is not None:
            options["collation"] = self.collation.to_document()
        if self.hidden:
            options["hidden"] = True
        return options

    def to_document(self, namespace: str | None = None) -> dict[str, Any]:
        """The index as ``listIndexes`` shows it."""
        doc: dict[str, Any] = {"v": 2, "key": dict(self.key), "name": self.name}
        doc.update(self.options())
        return doc


def default_index_name(key: Mapping[str, Any]) -> str:
    """MongoDB's generated name: ``a_1_b_-1``, ``title_text``."""
    parts = []
    for field, direction in key.items():
        value = direction if isinstance(direction, str) else int(direction)
        parts.append(f"{field}_{value}")
    return "_".join(parts)


def parse_index_spec(doc: Mapping[str, Any]) -> IndexSpec:
    """Validate one entry of ``createIndexes.indexes``."""
    for option in doc:
        if option not in _ALLOWED_OPTIONS:
            raise CommandError(
                197, f"The field '{option}' is not valid for an index specification."
            )
    key = doc.get("key")
    if not isinstance(key, Mapping) or not key:
        raise CommandError(67, "Index keys cannot be empty.")
    parsed: list[tuple[str, int | str]] = []
    for field, direction in key.items():
        if not isinstance(field, str) or not field:
            raise CommandError(67, "Index key field names cannot be empty")
        if field == "$**" or field.endswith(".$**"):
            raise CommandError(67, "wildcard indexes are not supported by the embedded server")
        if any(part.startswith("$") for part in field.split(".")):
            raise CommandError(
                67, "Index key contains an illegal field name: field name starts with '$'."
            )
        if isinstance(direction, str):
            if direction != "text":
                raise CommandError(
                    67, f"Index type '{direction}' is not supported by the embedded server"
                )
            parsed.append((field, "text"))
        elif is_number(direction) and float(direction) != 0:
            parsed.append((field, 1 if float(direction) > 0 else -1))
        else:
            raise CommandError(67, f"Values in the index key pattern can't be 0: {field}")
    name = doc.get("name", default_index_name(dict(parsed)))
    if not isinstance(name, str) or not name:
        raise CommandError(67, "index name must be a non-empty string")
    collation = parse_collation(doc.get("collation"))
    hidden = doc.get("hidden", False)
    if not isinstance(hidden, bool):
        raise CommandError(14, "The field 'hidden' must be a boolean")
    if hidden and name == "_id_":
        raise CommandError(67, "can't hide _id index")
    expire = doc.get("expireAfterSeconds")
    if expire is not None:
        if not is_number(expire) or float(expire) < 0:
            raise CommandError(67, "expireAfterSeconds must be a non-negative number")
        if len(parsed) != 1 or parsed[0][0] == "_id":
            raise CommandError(67, "TTL indexes are single-field indexes, not on _id")
        expire = int(float(expire))
    partial = doc.get("partialFilterExpression")
    if partial is not None:
        if not isinstance(partial, Mapping):
            raise CommandError(67, "partialFilterExpression must be an object")
        compile_filter(partial)
    weights = doc.get("weights")
    unique = bool(doc.get("unique", False))
    text = any(d == "text" for _, d in parsed)
    if unique and text:
        raise CommandError(67, "text indexes cannot be unique")
    if name == "_id_" and (len(parsed) != 1 or parsed[0][0] != "_id"):
        raise CommandError(67, "the index name _id_ is reserved for the _id index")
    return IndexSpec(
        name=name,
        key=tuple(parsed),
        unique=unique or name == "_id_",
        sparse=bool(doc.get("sparse", False)),
        partial_filter=dict(partial) if partial is not None else None,
        expire_after_seconds=expire,
        weights=dict(weights) if isinstance(weights, Mapping) else None,
        default_language=str(doc.get("default_language", "english")),
        collation=collation,
        hidden=hidden,
    )


def check_conflict(existing: Sequence[IndexSpec], new: IndexSpec) -> bool:
    """True when ``new`` already exists as is; raises when it conflicts with an index."""
    for index in existing:
        if index.collation != new.collation and index.name != new.name:
            continue  # the same keys under another collation are another index
        same_key = index.key == new.key
        same_options = index.options() == new.options()
        if index.name == new.name:
            if same_key and same_options:
                return True
            if same_key:
                raise CommandError(
                    85, f"An existing index has the same name as the requested index: {new.name}"
                )
            raise CommandError(
                86,
                "An existing index has the same name as the requested index. When index names "
                "are not specified, they are auto generated and can cause conflicts. Requested "
                f"index: {new.to_document()}, existing index: {index.to_document()}",
            )
        if same_key and (same_options or index.name != new.name):
            if same_options:
                raise CommandError(85, f"Index already exists with a different name: {index.name}")
            raise CommandError(
                85,
                f"An equivalent index already exists with the same name but different options. "
                f"Requested index: {new.to_document()}, existing index: {index.to_document()}",
            )
    return False


def _is_regex(value: Any) -> bool:
    return isinstance(value, Regex) or hasattr(value, "pattern")


class Index:
    """One index's entries."""

    def __init__(self, spec: IndexSpec) -> None:
        self.spec = spec
        self.entries_map: SortedDict = SortedDict()
        self._size = 0
        self._fields = [field for field, _ in spec.key]
        self._partial = None
        if spec.partial_filter is not None:
            self._partial = compile_filter(spec.partial_filter)
        self._text = spec.is_text
        # While a unique index is built in steps: the entries that got a second holder.
        self.suspects: set[Entry] | None = None
        # One top-level field (the _id index, most user indexes): keyed without a path walk.
        self._top_field = (
            self._fields[0]
            if len(self._fields) == 1 and "." not in self._fields[0] and not self._text
            else None
        )

    def __len__(self) -> int:
        return self._size

    def entries(self, doc: Mapping[str, Any]) -> list[Entry]:
        """The index keys ``doc`` produces (one per array element for multikey fields)."""
        if self.spec.collation is not None:
            with in_collation(self.spec.collation):
                return self._entries(doc)
        return self._entries(doc)

    def _entries(self, doc: Mapping[str, Any]) -> list[Entry]:
        if self._partial is not None and not self._partial.matches(doc):
            return []
        field = self._top_field
        if field is not None:
            if field not in doc:
                return [] if self.spec.sparse else [(_NULL,)]
            value = doc[field]
            if not isinstance(value, list):
                return [(sort_key(value),)]
        if self._text:
            words: set[str] = set()
            for field in self._fields:
                for value in get_path_values(doc, field):
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, str):
                            words.update(text_tokens(item))
            return [(word,) for word in sorted(words)]
        per_field: list[list[tuple[Any, ...]]] = []
        arrays: list[str] = []
        all_missing = True
        for field in self._fields:
            values = get_path_values(doc, field)
            keys: list[tuple[Any, ...]] = []
            if values:
                all_missing = False
            for value in values:
                if isinstance(value, list):
                    if field not in arrays:
                        arrays.append(field)
                    keys.extend(sort_key(v) for v in value) if value else keys.append(_NULL)
                else:
                    keys.append(sort_key(value))
            per_field.append(sorted(set(keys)) or [_NULL])
        if self.spec.sparse and all_missing:
            return []
        if len(arrays) > 1:
            raise CommandError(171, f"cannot index parallel arrays [{arrays[1]}] [{arrays[0]}]")
        if len(per_field) == 1:
            return [(key,) for key in per_field[0]]
        return [tuple(combo) for combo in itertools.product(*per_field)]

    def add(self, id_key: IdKey, doc: Mapping[str, Any]) -> None:
        for entry in self.entries(doc):
            holders = self.entries_map.get(entry)
            if holders is None:
                holders = self.entries_map[entry] = {}
            holders[id_key] = holders.get(id_key, 0) + 1
            self._size += 1
            if self.suspects is not None and len(holders) > 1:
                self.suspects.add(entry)

    def remove(self, id_key: IdKey, doc: Mapping[str, Any]) -> None:
        for entry in self.entries(doc):
            holders = self.entries_map.get(entry)
            if holders is None or id_key not in holders:
                continue
            holders[id_key] -= 1
            self._size -= 1
            if holders[id_key] == 0:
                del holders[id_key]
                if not holders:
                    del self.entries_map[entry]

    def ids_with_entry(self, entry: Entry) -> set[IdKey]:
        return set(self.entries_map.get(entry, ()))

    def _collect(self, low: Entry, high: Entry, inclusive: tuple[bool, bool]) -> set[IdKey]:
        # One C-level pass: a range of 100,000 entries is collected on the event loop.
        entries = self.entries_map.irange(low, high, inclusive=inclusive)
        return set(itertools.chain.from_iterable(map(self.entries_map.__getitem__, entries)))

    def _equal(self, value: Any) -> set[IdKey] | None:
        if value is None and self.spec.sparse:
            return None
        key = sort_key(value)
        ids = self._collect((key,), (key, (1000,)), (True, True))
        if isinstance(value, list):
            # A whole-array match is found through the array's first element.
            if not value:
                return None
            first = sort_key(value[0])
            ids |= self._collect((first,), (first, (1000,)), (True, True))
        return ids

    def candidates(self, filter: Mapping[str, Any]) -> set[IdKey] | None:
        """Ids that may match ``filter`` using this index, or None if it cannot narrow it."""
        if self._text or self._partial is not None or self.spec.hidden:
            return None
        if self.spec.collation is not None:
            # Its keys compare strings by its collation, the filter's by code point.
            return None
        if len(self._fields) > 1:
            prefix = self._equality_prefix(filter)
            if len(prefix) > 1:
                return self._collect(prefix, (*prefix, (1000,)), (True, True))
        field = self._fields[0]
        conditions = [filter[field]] if field in filter else []
        for clause in filter.get("$and", ()) if isinstance(filter.get("$and"), list) else ():
            if isinstance(clause, Mapping) and field in clause:
                conditions.append(clause[field])
        best: set[IdKey] | None = None
        for condition in conditions:
            found = self._condition(condition)
            if found is not None and (best is None or len(found) < len(best)):
                best = found
        return best

    def _equality_prefix(self, filter: Mapping[str, Any]) -> tuple[Any, ...]:
        """Sort keys of the leading fields the filter pins to one scalar (top level or $and).

        A compound index narrows by all of them at once; arrays, documents,
        null and regexes stop the prefix, since they can match in several ways.
        """
        clauses = [filter]
        if isinstance(filter.get("$and"), list):
            clauses += [c for c in filter["$and"] if isinstance(c, Mapping)]
        prefix: list[Any] = []
        for field in self._fields:
            value = next((c[field] for c in clauses if field in c), None)
            if isinstance(value, Mapping) and list(value) == ["$eq"]:
                value = value["$eq"]
            if value is None or isinstance(value, Mapping | list | tuple) or _is_regex(value):
                break
            prefix.append(sort_key(value))
        return tuple(prefix)

    def _condition(self, condition: Any) -> set[IdKey] | None:
        if isinstance(condition, Regex) or hasattr(condition, "pattern"):
            return None
        if not (
            isinstance(condition, Mapping) and condition and next(iter(condition)).startswith("$")
        ):
            if isinstance(condition, Mapping):
                return self._equal(dict(condition))
            return self._equal(condition)
        if "$eq" in condition:
            operand = condition["$eq"]
            if isinstance(operand, Regex | Mapping):
                return None
            return self._equal(operand)
        if "$in" in condition:
            values = condition["$in"]
            if not isinstance(values, list):
                return None
            ids: set[IdKey] = set()
            for value in values:
                if (
                    isinstance(value, Regex)
                    or hasattr(value, "pattern")
                    or isinstance(value, Mapping)
                ):
                    return None
                found = self._equal(value)
                if found is None:
                    return None
                ids |= found
            return ids
        return self._range(condition)

    def _range(self, condition: Mapping[str, Any]) -> set[IdKey] | None:
        low: Entry | None = None
        high: Entry | None = None
        low_inc = high_inc = True
        rank: Any = None
        for op in ("$gt", "$gte", "$lt", "$lte"):
            if op not in condition:
                continue
            operand = condition[op]
            key = sort_key(operand)
            if key[0] in (1, 100, RANK_NULL) or key == sort_key(float("nan")):
                return None
            if rank is not None and rank != key[0]:
                return set()
            rank = key[0]
            if op in ("$gt", "$gte"):
                low, low_inc = (key,), op == "$gte"
            else:
                high, high_inc = (key, (1000,)) if op == "$lte" else (key,), op == "$lte"
        if rank is None:
            return None
        low = low if low is not None else ((rank,),)
        high = high if high is not None else ((rank + 0.5,),)
        if low == ((rank,),):
            low_inc = True
        return self._collect(low, high, (low_inc, high_inc))

    def text_candidates(self, terms: Sequence[str]) -> set[IdKey]:
        ids: set[IdKey] = set()
        for term in terms:
            ids.update(self.entries_map.get((term.lower(),), ()))
        return ids

    def _cutoff(self, now: datetime.datetime) -> int | None:
        seconds = self.spec.expire_after_seconds
        return None if seconds is None else datetime_ms(now) - seconds * 1000

    def expired(self, now: datetime.datetime) -> set[IdKey]:
        """Ids whose indexed date is older than ``now - expireAfterSeconds`` in some kept version."""
        cutoff = self._cutoff(now)
        if cutoff is None:
            return set()
        low: Entry = ((_RANK_DATE,),)
        high: Entry = ((_RANK_DATE, cutoff),)
        return self._collect(low, high, (True, False))

    def is_expired(self, doc: Mapping[str, Any], now: datetime.datetime) -> bool:
        """Whether this version of a document is past its TTL (its earliest indexed date)."""
        cutoff = self._cutoff(now)
        if cutoff is None:
            return False
        return any(
            entry[0][0] == _RANK_DATE and entry[0][1] < cutoff for entry in self.entries(doc)
        )


def plan(
    indexes: Sequence[Index], filter: Mapping[str, Any]
) -> tuple[Index | None, set[IdKey] | None]:
    """The index that narrows ``filter`` most, with its candidates; (None, None) means a scan."""
    best: tuple[Index | None, set[IdKey] | None] = (None, None)
    for index in indexes:
        found = index.candidates(filter)
        if found is None:
            continue
        if best[1] is None or len(found) < len(best[1]):
            best = (index, found)
            if len(found) <= 1:
                break
    if best[1] is None:
        for branches in _or_lists(filter):
            found = _union_of_branches(indexes, branches)
            if found is not None and (best[1] is None or len(found) < len(best[1])):
                best = (None, found)
    return best


def _or_lists(filter: Mapping[str, Any]) -> list[list[Any]]:
    """The ``$or`` branch lists a filter requires (at top level or inside ``$and``)."""
    clauses = [filter]
    if isinstance(filter.get("$and"), list):
        clauses += [c for c in filter["$and"] if isinstance(c, Mapping)]
    return [c["$or"] for c in clauses if isinstance(c.get("$or"), list) and c["$or"]]


def _union_of_branches(indexes: Sequence[Index], branches: list[Any]) -> set[IdKey] | None:
    """Every document an ``$or`` can match, when an index narrows each branch; else None."""
    union: set[IdKey] = set()
    for branch in branches:
        if not isinstance(branch, Mapping):
            return None
        _, found = plan(indexes, branch)
        if found is None:
            return None
        union |= found
    return union


def duplicate_key(namespace: str, index: Index, doc: Mapping[str, Any]) -> CommandError:
    """The DuplicateKey error for ``doc`` on ``index``, naming the values it holds."""
    values: dict[str, Any] = {}
    for path, _ in index.spec.key:
        node: Any = doc
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        values[path] = node
    return DuplicateKey(namespace, index.spec.name, values)
