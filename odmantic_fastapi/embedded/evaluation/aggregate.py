"""Aggregation pipelines: each stage validated up front, then documents streamed through.

Stages: $match $project $addFields/$set $unset $group $sort $skip $limit
$count $unwind $lookup (both forms) $replaceRoot/$replaceWith $facet
$sortByCount $sample $unionWith. $out and $merge, which write, are the
aggregate command's (commands/_pipeline_writes.py): it takes them off the end
of the pipeline before it gets here, so anywhere else they are refused.
"""

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ..errors import CommandError
from . import budget
from .compare import is_number, sort_key, to_decimal
from .expressions import MISSING, evaluate, validate_expression, value_bytes
from .expressions.arithmetic import add_values
from .matcher import compile_filter
from .paths import get_path_values, split_path
from .sorting import check_sort_memory, compile_sort

__all__ = ["PipelineContext", "run_pipeline", "validate_pipeline"]

Docs = list[dict[str, Any]]
_T = TypeVar("_T")


class PipelineContext(Protocol):
    """Access to other collections of the database, as the caller's snapshot sees them."""

    # Whether blocking stages ($sort, $group) may hold more than 100 MB.
    allow_disk_use: bool

    def collection_documents(self, collection: str) -> Iterable[Mapping[str, Any]]: ...


def _checked(docs: Iterable[_T]) -> Iterator[_T]:
    """``docs``, checking the command's maxTimeMS every 256 items."""
    for position, doc in enumerate(docs):
        if position & 255 == 255:
            budget.check()
        yield doc


_STAGES = frozenset(
    {
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$group",
        "$sort",
        "$skip",
        "$limit",
        "$count",
        "$unwind",
        "$lookup",
        "$replaceRoot",
        "$replaceWith",
        "$facet",
        "$sortByCount",
        "$sample",
        "$unionWith",
        "$out",
        "$merge",
    }
)
_ACCUMULATORS = frozenset(
    {
        "$sum",
        "$avg",
        "$min",
        "$max",
        "$first",
        "$last",
        "$push",
        "$addToSet",
        "$count",
        "$mergeObjects",
        "$stdDevPop",
        "$stdDevSamp",
    }
)


def _stage(stage: Mapping[str, Any]) -> tuple[str, Any]:
    if not isinstance(stage, Mapping) or len(stage) != 1:
        raise CommandError(
            40323, "A pipeline stage specification object must contain exactly one field."
        )
    name = next(iter(stage))
    if name not in _STAGES:
        raise CommandError(40324, f"Unrecognized pipeline stage name: '{name}'")
    return name, stage[name]


def validate_pipeline(pipeline: Sequence[Mapping[str, Any]]) -> None:
    """Check every stage and expression without reading any document."""
    for stage in pipeline:
        name, arg = _stage(stage)
        if name in ("$out", "$merge"):
            raise CommandError(20, f"{name} is not supported by the embedded server")
        if name in ("$lookup", "$unionWith") and isinstance(arg, Mapping):
            source = arg.get("from" if name == "$lookup" else "coll")
            if source is not None and not isinstance(source, str):
                raise CommandError(
                    20,
                    f"{name} from {{db, coll}} (another database) is not supported by the "
                    "embedded server: name a collection of this database",
                )
        if name == "$match":
            if not isinstance(arg, Mapping):
                raise CommandError(15959, "the match filter must be an expression in an object")
            compile_filter(arg)
        elif name in ("$project", "$addFields", "$set", "$group", "$replaceRoot", "$replaceWith"):
            if name != "$replaceWith" and not isinstance(arg, Mapping):
                raise CommandError(
                    40272 if name == "$addFields" else 15969,
                    f"{name} specification must be an object",
                )
            if name == "$group":
                if "_id" not in arg:
                    raise CommandError(15955, "a group specification must include an _id")
                for field, spec in arg.items():
                    if field == "_id":
                        validate_expression(spec)
                        continue
                    if not isinstance(spec, Mapping) or len(spec) != 1:
                        raise CommandError(
                            40238, f"The field '{field}' must specify one accumulator"
                        )
                    accumulator = next(iter(spec))
                    if accumulator not in _ACCUMULATORS:
                        raise CommandError(15952, f"unknown group operator '{accumulator}'")
                    validate_expression(spec[accumulator])
            elif name == "$project":
                _project_spec(arg)
            else:
                validate_expression(arg)
        elif name in ("$skip", "$limit"):
            if not is_number(arg) or to_decimal(arg) < (1 if name == "$limit" else 0):
                raise CommandError(
                    15958 if name == "$limit" else 15956, f"invalid argument to {name} stage"
                )
        elif name == "$sort":
            if not isinstance(arg, Mapping) or not arg:
                raise CommandError(15976, "$sort stage must have at least one sort key")
            compile_sort(arg)
        elif name == "$count":
            if not isinstance(arg, str) or not arg or arg.startswith("$") or "." in arg:
                raise CommandError(
                    40156, "the count field must be a non-empty string without '$' or '.'"
                )
        elif name == "$unwind":
            path = arg.get("path") if isinstance(arg, Mapping) else arg
            if not isinstance(path, str) or not path.startswith("$"):
                raise CommandError(
                    28818, "path option to $unwind stage should be prefixed with a '$'"
                )
        elif name == "$lookup":
            if not isinstance(arg, Mapping) or "from" not in arg or "as" not in arg:
                raise CommandError(40321, "$lookup requires 'from' and 'as'")
            if "pipeline" in arg:
                validate_pipeline(arg["pipeline"])
        elif name == "$facet":
            if not isinstance(arg, Mapping):
                raise CommandError(40169, "the $facet specification must be a non-empty object")
            for sub in arg.values():
                validate_pipeline(sub)
        elif name == "$unionWith":
            if isinstance(arg, Mapping) and "pipeline" in arg:
                validate_pipeline(arg["pipeline"])
        elif name == "$unset":
            fields = arg if isinstance(arg, list) else [arg]
            if not all(isinstance(f, str) and f for f in fields):
                raise CommandError(
                    31120, "$unset specification must be a string or an array of strings"
                )


def _project_spec(spec: Mapping[str, Any]) -> bool:
    """Validate a $project and return whether it is an exclusion."""
    exclusion = None
    for field, value in spec.items():
        if isinstance(value, bool) or (is_number(value) and field):
            include = bool(value) if not is_number(value) else to_decimal(value) != 0
            if field == "_id":
                continue
            if exclusion is None:
                exclusion = not include
            elif exclusion == include:
                raise CommandError(
                    31254,
                    f"Cannot do {'inclusion' if include else 'exclusion'} on field {field} in {'exclusion' if exclusion else 'inclusion'} projection",
                )
        else:
            if exclusion:
                raise CommandError(
                    31252,
                    f"Cannot use expression other than $meta in exclusion projection: {field}",
                )
            exclusion = False
            if isinstance(value, Mapping) and value and not next(iter(value)).startswith("$"):
                _project_spec(value)
            else:
                validate_expression(value)
    return bool(exclusion)


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = split_path(path)
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    if value is MISSING:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def _remove_path(doc: dict[str, Any], path: str) -> dict[str, Any]:
    parts = split_path(path)
    if len(parts) == 1:
        return {k: v for k, v in doc.items() if k != path}
    head, rest = parts[0], ".".join(parts[1:])
    value = doc.get(head)
    out = dict(doc)
    if isinstance(value, dict):
        out[head] = _remove_path(value, rest)
    elif isinstance(value, list):
        out[head] = [_remove_path(v, rest) if isinstance(v, dict) else v for v in value]
    return out


_NO_VARIABLES: Mapping[str, Any] = {}


def _project(
    doc: Mapping[str, Any],
    spec: Mapping[str, Any],
    root: Mapping[str, Any],
    exclusion: bool,
    variables: Mapping[str, Any] = _NO_VARIABLES,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``doc`` projected by ``spec``; ``current`` is the document expressions see as $$CURRENT.

    In a nested spec (``{ns: {db: "$ns.db"}}``) ``doc`` is the subdocument, but
    field paths still start at the whole document, as in MongoDB.
    """
    current = doc if current is None else current
    if exclusion:
        out = dict(doc)
        for field, value in spec.items():
            if not value:
                out = _remove_path(out, field)
        return out
    result: dict[str, Any] = {}
    include_id = spec.get("_id", True)
    if (
        include_id is not False
        and include_id != 0
        and "_id" in doc
        and not isinstance(include_id, Mapping | str)
    ):
        result["_id"] = doc["_id"]
    for field, value in spec.items():
        if field == "_id" and (value is True or (is_number(value) and not isinstance(value, bool))):
            continue
        if field == "_id" and value is False:
            continue
        if value is True or (is_number(value) and not isinstance(value, bool)):
            _include_path(doc, result, split_path(field))
        elif isinstance(value, Mapping) and value and not next(iter(value)).startswith("$"):
            nested = _project_value(doc.get(field, MISSING), value, root, variables, current)
            if nested is not MISSING:
                result[field] = nested
        else:
            _set_path(result, field, evaluate(value, root, {**variables, "CURRENT": current}))
    return result


def _project_value(
    value: Any,
    spec: Mapping[str, Any],
    root: Mapping[str, Any],
    variables: Mapping[str, Any],
    current: Mapping[str, Any],
) -> Any:
    """A field's value under a nested inclusion spec, as MongoDB applies one.

    A subdocument is projected; an array element by element (arrays in arrays
    too); anything else, missing included, becomes the spec's computed fields
    alone, or stays missing when the spec only includes.
    """
    if isinstance(value, Mapping):
        return _project(value, spec, root, False, variables, current)
    if isinstance(value, list):
        items = (_project_value(item, spec, root, variables, current) for item in value)
        return [item for item in items if item is not MISSING]
    computed = _project({}, spec, root, False, variables, current)
    return computed if computed else MISSING


def _include_path(source: Any, target: dict[str, Any], parts: tuple[str, ...]) -> None:
    head = parts[0]
    if not isinstance(source, Mapping) or head not in source:
        return
    value = source[head]
    if len(parts) == 1:
        target[head] = value
        return
    if isinstance(value, Mapping):
        child = target.setdefault(head, {})
        _include_path(value, child, parts[1:])
    elif isinstance(value, list):
        items = target.setdefault(head, [{} for v in value if isinstance(v, Mapping)])
        for item, element in zip(items, [v for v in value if isinstance(v, Mapping)], strict=False):
            _include_path(element, item, parts[1:])


# What $push and $addToSet may hold per group (MongoDB's internalQueryMax{Push,AddToSet}Bytes).
ACCUMULATOR_MEMORY_LIMIT = 100 * 1024 * 1024


def _within_accumulator_memory(name: str, values: list[Any]) -> list[Any]:
    if value_bytes(values, ACCUMULATOR_MEMORY_LIMIT) > ACCUMULATOR_MEMORY_LIMIT:
        raise CommandError(
            146,
            f"{name} used too much memory and cannot spill to disk. "
            f"Memory limit: {ACCUMULATOR_MEMORY_LIMIT} bytes",
        )
    return values


def _accumulate(name: str, values: list[Any]) -> Any:
    present = [v for v in values if v is not MISSING]
    if name == "$sum":
        numbers = [v for v in present if is_number(v)]
        return add_values(numbers) if numbers else 0
    if name == "$avg":
        numbers = [v for v in present if is_number(v)]
        if not numbers:
            return None
        return float(sum(to_decimal(n) for n in numbers) / len(numbers))
    if name in ("$min", "$max"):
        candidates = [v for v in present if v is not None]
        if not candidates:
            return None
        return (min if name == "$min" else max)(candidates, key=sort_key)
    if name == "$first":
        return None if not values or values[0] is MISSING else values[0]
    if name == "$last":
        return None if not values or values[-1] is MISSING else values[-1]
    if name == "$push":
        return _within_accumulator_memory(name, present)
    if name == "$addToSet":
        seen: dict[Any, Any] = {}
        for v in present:
            seen.setdefault(sort_key(v), v)
        return _within_accumulator_memory(name, list(seen.values()))
    if name == "$count":
        return len(values)
    if name == "$mergeObjects":
        merged: dict[str, Any] = {}
        for v in present:
            if isinstance(v, Mapping):
                merged.update(v)
        return merged
    numbers = [float(to_decimal(v)) for v in present if is_number(v)]
    if (name == "$stdDevSamp" and len(numbers) < 2) or not numbers:
        return None
    mean = sum(numbers) / len(numbers)
    squares = sum((n - mean) ** 2 for n in numbers)
    return float((squares / (len(numbers) - (1 if name == "$stdDevSamp" else 0))) ** 0.5)


def _group(
    docs: Docs, spec: Mapping[str, Any], variables: Mapping[str, Any] = _NO_VARIABLES
) -> Docs:
    groups: dict[Any, tuple[Any, dict[str, list[Any]]]] = {}
    fields = [(f, next(iter(s)), s[next(iter(s))]) for f, s in spec.items() if f != "_id"]
    for doc in _checked(docs):
        key_value = evaluate(spec["_id"], doc, variables)
        key_value = None if key_value is MISSING else key_value
        key = sort_key(key_value)
        if key not in groups:
            groups[key] = (key_value, {f: [] for f, _, _ in fields})
        bucket = groups[key][1]
        for field, accumulator, expr in fields:
            bucket[field].append(1 if accumulator == "$count" else evaluate(expr, doc, variables))
    out: Docs = []
    for key_value, bucket in groups.values():
        result: dict[str, Any] = {"_id": key_value}
        for field, accumulator, _ in fields:
            result[field] = _accumulate(accumulator, bucket[field])
        out.append(result)
    return out


def _unwind(docs: Docs, arg: Any) -> Docs:
    options = arg if isinstance(arg, Mapping) else {"path": arg}
    path = options["path"][1:]
    include_index = options.get("includeArrayIndex")
    preserve = bool(options.get("preserveNullAndEmptyArrays", False))
    out: Docs = []
    for doc in docs:
        values = get_path_values(doc, path) if "." in path else ([doc[path]] if path in doc else [])
        value = values[0] if values else MISSING
        if isinstance(value, list) and value:
            for index, element in enumerate(value):
                new = dict(doc)
                _set_path(new, path, element)
                if include_index:
                    new[include_index] = index
                out.append(new)
        elif isinstance(value, list) or value is MISSING or value is None:
            if preserve:
                new = dict(doc)
                if isinstance(value, list):
                    _set_path(new, path, MISSING)
                if include_index:
                    new[include_index] = None
                out.append(new)
        else:
            new = dict(doc)
            if include_index:
                new[include_index] = None
            out.append(new)
    return out


def _lookup(docs: Docs, arg: Mapping[str, Any], context: PipelineContext) -> Docs:
    foreign = [dict(d) for d in context.collection_documents(arg["from"])]
    out: Docs = []
    index: dict[Any, list[dict[str, Any]]] | None = None
    if "localField" in arg and "foreignField" in arg:
        index = {}
        for f in foreign:
            values = get_path_values(f, arg["foreignField"]) or [None]
            keys = set()
            for value in values:
                for item in value if isinstance(value, list) else [value]:
                    keys.add(sort_key(item))
                if isinstance(value, list):
                    keys.add(sort_key(value))
            for key in keys:
                index.setdefault(key, []).append(f)
    for doc in _checked(docs):
        matches: list[dict[str, Any]]
        if index is not None:
            local = get_path_values(doc, arg["localField"]) or [None]
            seen_ids: set[int] = set()
            matches = []
            for value in local:
                for item in value if isinstance(value, list) else [value]:
                    for f in index.get(sort_key(item), []):
                        if id(f) not in seen_ids:
                            seen_ids.add(id(f))
                            matches.append(f)
        else:
            matches = foreign
        if "pipeline" in arg:
            variables = {name: evaluate(expr, doc) for name, expr in arg.get("let", {}).items()}
            variables = {k: (None if v is MISSING else v) for k, v in variables.items()}
            matches = run_pipeline(matches, arg["pipeline"], context, variables)
        new = dict(doc)
        _set_path(new, arg["as"], matches)
        out.append(new)
    return out


def _match(docs: Docs, arg: Mapping[str, Any], variables: Mapping[str, Any]) -> Docs:
    matcher = compile_filter(arg, variables=variables)
    return [d for d in _checked(docs) if matcher.matches(d)]


def _none(value: Any) -> Any:
    return None if value is MISSING else value


def _apply(
    name: str, arg: Any, docs: Docs, context: PipelineContext, variables: Mapping[str, Any]
) -> Docs:
    if name == "$match":
        return _match(docs, arg, variables)
    if name == "$project":
        exclusion = _project_spec(arg)
        return [_project(d, arg, d, exclusion, variables) for d in _checked(docs)]
    if name in ("$addFields", "$set"):
        out = []
        for doc in _checked(docs):
            new = dict(doc)
            for field, expr in arg.items():
                _set_path(new, field, evaluate(expr, doc, {**variables, "CURRENT": doc}))
            out.append(new)
        return out
    if name == "$unset":
        fields = arg if isinstance(arg, list) else [arg]
        out = []
        for doc in docs:
            new = dict(doc)
            for field in fields:
                new = _remove_path(new, field)
            out.append(new)
        return out
    if name == "$group":
        grouped = _group(docs, arg, variables)
        check_sort_memory(grouped, context.allow_disk_use, "$group")
        return grouped
    if name == "$sort":
        check_sort_memory(docs, context.allow_disk_use)
        key = compile_sort(arg)
        return sorted(docs, key=key) if key is not None else docs
    if name == "$skip":
        return docs[int(to_decimal(arg)) :]
    if name == "$limit":
        return docs[: int(to_decimal(arg))]
    if name == "$count":
        return [{arg: len(docs)}] if docs else []
    if name == "$unwind":
        return _unwind(docs, arg)
    if name == "$lookup":
        return _lookup(docs, arg, context)
    if name in ("$replaceRoot", "$replaceWith"):
        expr = arg["newRoot"] if name == "$replaceRoot" else arg
        out = []
        for doc in docs:
            new_root = evaluate(expr, doc, variables)
            if not isinstance(new_root, Mapping):
                raise CommandError(
                    40228,
                    "'newRoot' expression must evaluate to an object, but resulting value was: "
                    f"{_none(new_root)!r}",
                )
            out.append(dict(new_root))
        return out
    if name == "$facet":
        return [{field: run_pipeline(docs, sub, context, variables) for field, sub in arg.items()}]
    if name == "$sortByCount":
        grouped = _group(docs, {"_id": arg, "count": {"$sum": 1}})
        return sorted(grouped, key=lambda d: -d["count"])
    if name == "$sample":
        size = int(arg.get("size", 0)) if isinstance(arg, Mapping) else 0
        return random.sample(docs, min(size, len(docs)))
    if name == "$unionWith":
        coll = arg if isinstance(arg, str) else arg["coll"]
        other = [dict(d) for d in context.collection_documents(coll)]
        if isinstance(arg, Mapping) and "pipeline" in arg:
            other = run_pipeline(other, arg["pipeline"], context, variables)
        return docs + other
    raise CommandError(20, f"{name} is not supported by the embedded server")


def run_pipeline(
    documents: Iterable[Mapping[str, Any]],
    pipeline: Sequence[Mapping[str, Any]],
    context: PipelineContext,
    variables: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run a validated pipeline over ``documents``; the input documents are never mutated."""
    docs: Docs = [d if isinstance(d, dict) else dict(d) for d in documents]
    for stage in pipeline:
        name, arg = _stage(stage)
        budget.check()
        docs = _apply(name, arg, docs, context, variables or {})
    return docs
