"""Update documents ($set, $inc, $push, ...) and pipeline updates applied with MongoDB's rules.

``apply_update(doc, update)`` returns a new document and never mutates its
input: only the containers along the modified paths are copied, so stored
versions stay immutable and cheap updates stay cheap. Fields are updated in
lexicographic order of their paths, as MongoDB 5.0+ does, and every invalid
update raises a :class:`CommandError` with MongoDB's code.
"""

import datetime
import decimal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import Decimal128, Int64, Timestamp

from ..errors import CommandError
from .aggregate import run_pipeline, validate_pipeline
from .compare import compare, is_number, sort_key, values_equal
from .matcher import compile_filter
from .sorting import compile_sort
from .update_paths import (
    Path,
    Writer,
    compile_array_filters,
    concrete_paths,
    render,
    split_update_path,
    through_array,
    unfollowable_part,
    value_type_name,
)

__all__ = [
    "apply_update",
    "is_replacement",
    "modifies",
    "plain_set",
    "set_top_level",
    "upsert_set",
    "validate_replacement",
]

_OPERATORS = frozenset(
    {
        "$set",
        "$unset",
        "$inc",
        "$mul",
        "$min",
        "$max",
        "$rename",
        "$currentDate",
        "$setOnInsert",
        "$push",
        "$addToSet",
        "$pull",
        "$pullAll",
        "$pop",
        "$bit",
    }
)
_PIPELINE_STAGES = frozenset(
    {"$set", "$addFields", "$unset", "$project", "$replaceRoot", "$replaceWith"}
)
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def is_replacement(update: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> bool:
    """True for a replacement document (no $-operators); pipelines and operator documents are not."""
    if isinstance(update, list):
        return False
    if not isinstance(update, Mapping):
        raise CommandError(14, "update must be an object or an array")
    keys = list(update)
    if not keys:
        return True
    return not keys[0].startswith("$")


def validate_replacement(doc: Mapping[str, Any]) -> None:
    """A replacement may not hold $-prefixed top-level fields."""
    for key in doc:
        if key.startswith("$"):
            raise CommandError(
                52, f"The dollar ($) prefixed field '{key}' in '{key}' is not valid for storage."
            )


def _strict_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def modifies(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether an update changed anything (types included: 1 -> 1.0 is a change)."""
    return not _strict_equal(dict(before), dict(after))


# -- numbers -------------------------------------------------------------


_MISSING: Any = object()


def _arith(op: str, current: Any, operand: Any, path: str) -> Any:
    """``current`` (``_MISSING`` when the field is absent) after $inc or $mul by ``operand``."""
    if not is_number(operand):
        raise CommandError(
            14,
            f"Cannot {'increment' if op == '$inc' else 'multiply'} with non-numeric argument: "
            f"{{{path}: {render(operand)}}}",
        )
    if current is _MISSING:
        current = 0 if op == "$inc" else _zero_like(operand)
        if op == "$inc":
            return operand
        return current
    if not is_number(current):
        raise CommandError(
            14,
            f"Cannot apply {op} to a value of non-numeric type. {{_id: ...}} has the field "
            f"'{path}' of non-numeric type {value_type_name(current)}",
        )
    if isinstance(current, Decimal128) or isinstance(operand, Decimal128):
        a, b = _as_decimal(current), _as_decimal(operand)
        with decimal.localcontext(decimal.Context(prec=34)):
            return Decimal128(a + b if op == "$inc" else a * b)
    if isinstance(current, float) or isinstance(operand, float):
        return float(current) + float(operand) if op == "$inc" else float(current) * float(operand)
    result = int(current) + int(operand) if op == "$inc" else int(current) * int(operand)
    if isinstance(current, Int64) or isinstance(operand, Int64):
        if not _INT64_MIN <= result <= _INT64_MAX:
            raise CommandError(
                2, f"Failed to apply {op} operations to current value ({current}) for document"
            )
        return Int64(result)
    if _INT32_MIN <= result <= _INT32_MAX:
        return result
    if _INT64_MIN <= result <= _INT64_MAX:
        return Int64(result)
    raise CommandError(
        2, f"Failed to apply {op} operations to current value ({current}) for document"
    )


def _as_decimal(value: Any) -> decimal.Decimal:
    return value.to_decimal() if isinstance(value, Decimal128) else decimal.Decimal(value)


def _zero_like(value: Any) -> Any:
    if isinstance(value, Decimal128):
        return Decimal128("0")
    if isinstance(value, float):
        return 0.0
    if isinstance(value, Int64):
        return Int64(0)
    return 0


def _check_conflicts(paths: list[str]) -> None:
    seen: set[str] = set()
    for path in sorted(paths, key=lambda p: p.count(".")):
        parts = path.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in seen:
                raise CommandError(
                    40, f"Updating the path '{path}' would create a conflict at '{prefix}'"
                )
        seen.add(path)


# -- array operators -----------------------------------------------------


def _push(writer: Writer, path: Path, arg: Any) -> None:
    if isinstance(arg, Mapping) and "$each" in arg:
        for key in arg:
            if key not in ("$each", "$slice", "$sort", "$position"):
                raise CommandError(2, f"Unrecognized clause in $push: {key}")
        each = arg["$each"]
        if not isinstance(each, list):
            raise CommandError(2, "The argument to $each in $push must be an array")
        array = writer.array_for_write(path, "$push")
        position = arg.get("$position")
        if position is None:
            array.extend(each)
        else:
            if not isinstance(position, int) or isinstance(position, bool):
                raise CommandError(2, "The value for $position must be an integer value")
            index = position if position >= 0 else max(len(array) + position, 0)
            array[index:index] = each
        if "$sort" in arg:
            _sort_array(array, arg["$sort"])
        if "$slice" in arg:
            limit = arg["$slice"]
            if not isinstance(limit, int) or isinstance(limit, bool):
                raise CommandError(2, "The value for $slice must be an integer value")
            kept = array[:limit] if limit >= 0 else array[limit:]
            array[:] = kept
    else:
        writer.array_for_write(path, "$push").append(arg)


def _sort_array(array: list[Any], spec: Any) -> None:
    if spec in (1, -1) and not isinstance(spec, bool):
        array.sort(key=sort_key, reverse=spec == -1)
        return
    if not isinstance(spec, Mapping) or not spec:
        raise CommandError(
            2,
            "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields",
        )
    key = compile_sort(spec)
    assert key is not None
    array.sort(key=lambda el: key(el if isinstance(el, Mapping) else {}))


def _add_to_set(writer: Writer, path: Path, arg: Any) -> None:
    items = [arg]
    if isinstance(arg, Mapping) and "$each" in arg:
        if not isinstance(arg["$each"], list):
            raise CommandError(2, "The argument to $each in $addToSet must be an array")
        items = arg["$each"]
    array = writer.array_for_write(path, "$addToSet")
    for item in items:
        if not any(values_equal(item, existing) for existing in array):
            array.append(item)


def _pull(writer: Writer, path: Path, condition: Any, all_values: bool) -> None:
    found, value = writer.get(path)
    if not found:
        return
    if not isinstance(value, list):
        raise CommandError(2, "Cannot apply $pull to a non-array value")
    if all_values:
        if not isinstance(condition, list):
            raise CommandError(2, "$pullAll requires an array argument")
        remove: Callable[[Any], bool] = lambda el: any(values_equal(el, c) for c in condition)  # noqa: E731
    elif isinstance(condition, Mapping) and condition:
        if next(iter(condition)).startswith("$") and next(iter(condition)) not in (
            "$and",
            "$or",
            "$nor",
        ):
            scalar = compile_filter({"v": condition})
            remove = lambda el: scalar.matches({"v": el})  # noqa: E731
        else:
            query = compile_filter(condition)
            remove = lambda el: isinstance(el, Mapping) and query.matches(el)  # noqa: E731
    else:
        remove = lambda el: values_equal(el, condition)  # noqa: E731
    array = writer.array_for_write(path, "$pull")
    array[:] = [el for el in array if not remove(el)]


def _pop(writer: Writer, path: Path, arg: Any) -> None:
    if arg not in (1, -1) or isinstance(arg, bool):
        raise CommandError(9, f"$pop expects 1 or -1, found: {render(arg)}")
    found, _ = writer.get(path)
    if not found:
        return
    array = writer.array_for_write(path, "$pop")
    if array:
        array.pop(-1 if arg == 1 else 0)


def _bit(current: Any, arg: Any, path: str) -> Any:
    if not isinstance(arg, Mapping) or not arg:
        raise CommandError(9, "The $bit modifier is not compatible with a non-object argument")
    if current is None:
        current = 0
    if isinstance(current, bool) or not isinstance(current, int):
        raise CommandError(
            14,
            f"Cannot apply $bit to a value of non-integral type. {{_id: ...}} has the field {path}",
        )
    result = int(current)
    for op, operand in arg.items():
        if isinstance(operand, bool) or not isinstance(operand, int):
            raise CommandError(9, "The $bit modifier field must be an Integer(32/64 bit)")
        if op == "and":
            result &= operand
        elif op == "or":
            result |= operand
        elif op == "xor":
            result ^= operand
        else:
            raise CommandError(
                9, f"The $bit modifier only supports 'and', 'or', and 'xor', not '{op}'"
            )
    return (
        Int64(result)
        if isinstance(current, Int64) or not _INT32_MIN <= result <= _INT32_MAX
        else result
    )


# -- entry points --------------------------------------------------------


def _now_ms(now: datetime.datetime | None) -> datetime.datetime:
    now = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _apply_pipeline(
    doc: Mapping[str, Any],
    pipeline: Sequence[Mapping[str, Any]],
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    for stage in pipeline:
        if (
            not isinstance(stage, Mapping)
            or len(stage) != 1
            or next(iter(stage)) not in _PIPELINE_STAGES
        ):
            name = next(iter(stage)) if isinstance(stage, Mapping) and stage else stage
            raise CommandError(72, f"{name} is not allowed to be used within an update")
    validate_pipeline(pipeline)
    result = run_pipeline([doc], pipeline, _NoCollections(), variables)
    if len(result) != 1:
        raise CommandError(2, "an update pipeline must produce exactly one document")
    return result[0]


class _NoCollections:
    allow_disk_use = False

    def collection_documents(self, collection: str) -> list[Mapping[str, Any]]:
        raise CommandError(72, "$lookup is not allowed within an update pipeline")


def plain_set(update: Any) -> Mapping[str, Any] | None:
    """The fields of an update that only ``$set``s top-level fields, else None."""
    if type(update) is not dict or len(update) != 1:
        return None
    fields = update.get("$set")
    if type(fields) is not dict or not fields:
        return None
    for key in fields:
        if type(key) is not str or not key or "." in key or key[0] == "$":
            return None
    return fields


def set_top_level(doc: Mapping[str, Any], fields: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``doc`` after ``{"$set": fields}`` (``fields`` as ``plain_set`` returns them), and
    whether that changed it (as ``modifies`` tells).

    What ODM saves send. Existing fields keep their place and new ones follow in
    name order, as the general path of ``apply_update`` orders them; the change is
    found field by field, so an unchanged save compares only the fields it sets.
    """
    new = dict(doc)
    changed = False
    for key in sorted(fields):
        value = fields[key]
        if not changed:
            current = new.get(key, _MISSING)
            changed = current is _MISSING or not _strict_equal(current, value)
        new[key] = value
    return new, changed


def upsert_set(id_value: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The document an upsert by ``{"_id": id_value}`` of ``{"$set": fields}`` inserts.

    ``set_top_level`` of the filter's ``{"_id": id_value}``, without looking for
    a change: the _id, then the fields in name order (a ``$set`` of ``_id``
    itself replaces it in place).
    """
    doc = {"_id": id_value}
    for key in sorted(fields):
        doc[key] = fields[key]
    return doc


def apply_update(
    doc: Mapping[str, Any],
    update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
    positional: int | None = None,
    is_insert: bool = False,
    now: datetime.datetime | None = None,
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document after ``update``; ``doc`` itself is left unchanged.

    ``variables`` (a command's ``let``) are what an update pipeline sees as ``$$name``.
    """
    if isinstance(update, list):
        return _apply_pipeline(doc, update, variables)
    simple = plain_set(update) if array_filters is None else None
    if simple is not None:
        return set_top_level(doc, simple)[0]
    if not isinstance(update, Mapping):
        raise CommandError(14, "update must be an object or an array")
    filters = compile_array_filters(array_filters)
    used_filters: set[str] = set()
    actions: list[tuple[str, str, Any]] = []
    for op, fields in update.items():
        if op not in _OPERATORS:
            raise CommandError(
                9,
                f"Unknown modifier: {op}. Expected a valid update modifier or pipeline-style update "
                "specified as an array",
            )
        if not isinstance(fields, Mapping):
            raise CommandError(
                9,
                f"Modifiers operate on fields but we found type {value_type_name(fields)} instead.",
            )
        for path, arg in fields.items():
            split_update_path(path)
            if op == "$rename":
                if not isinstance(arg, str) or not arg:
                    raise CommandError(
                        2, f"The 'to' field for $rename must be a string: {path}: {arg}"
                    )
                actions.append((op, path, arg))
                actions.append(("$rename-target", arg, path))
            else:
                actions.append((op, path, arg))
    _check_conflicts([path for _, path, _ in actions])
    writer = Writer(doc)
    timestamp = _now_ms(now)
    for op, raw_path, arg in sorted(actions, key=lambda a: a[1]):
        if op == "$rename-target":
            continue
        if op == "$setOnInsert" and not is_insert:
            continue
        parts = split_update_path(raw_path)
        for path in concrete_paths(writer, parts, positional, filters, used_filters):
            _apply_one(
                writer, op, path, raw_path, arg, timestamp, positional, filters, used_filters
            )
    unused = set(filters) - used_filters
    if unused:
        raise CommandError(
            9, f"The array filter for identifier '{sorted(unused)[0]}' was not used in the update"
        )
    return writer.root


def _apply_one(
    writer: Writer,
    op: str,
    path: Path,
    raw_path: str,
    arg: Any,
    now: datetime.datetime,
    positional: int | None,
    filters: Mapping[str, Callable[[Any], bool]],
    used: set[str],
) -> None:
    if op in ("$set", "$setOnInsert"):
        writer.set(path, arg)
    elif op == "$unset":
        writer.unset(path)
    elif op in ("$inc", "$mul"):
        found, current = writer.get(path)
        writer.set(path, _arith(op, current if found else _MISSING, arg, raw_path))
    elif op in ("$min", "$max"):
        found, current = writer.get(path)
        if not found:
            writer.set(path, arg)
        else:
            order = compare(arg, current)
            if (op == "$min" and order < 0) or (op == "$max" and order > 0):
                writer.set(path, arg)
    elif op == "$currentDate":
        if arg is True or (isinstance(arg, Mapping) and arg.get("$type") == "date"):
            writer.set(path, now)
        elif isinstance(arg, Mapping) and arg.get("$type") == "timestamp":
            writer.set(path, Timestamp(int(now.replace(tzinfo=datetime.UTC).timestamp()), 1))
        else:
            raise CommandError(
                2,
                "The '$type' string field is required to be 'date' or 'timestamp': "
                "{$currentDate: {field : {$type: 'date'}}}",
            )
    elif op == "$rename":
        if any(isinstance(p, int) for p in path):
            raise CommandError(2, "The source field cannot be an array element")
        target = split_update_path(arg)
        found, value = writer.get(path)
        if not found:
            blocked = unfollowable_part(writer, path)
            if blocked is not None:
                raise CommandError(
                    28,
                    f"cannot use the part ({path[blocked]} of {raw_path}) to traverse the element",
                )
            return
        if through_array(writer, path):
            raise CommandError(2, "The source field cannot be an array element")
        if through_array(writer, target):
            raise CommandError(2, "The destination field cannot be an array element")
        container = writer.parent(path, create=False)
        if isinstance(container, list):
            raise CommandError(2, "The source field cannot be an array element")
        writer.unset(path)
        writer.set(target, value)
    elif op == "$push":
        _push(writer, path, arg)
    elif op == "$addToSet":
        _add_to_set(writer, path, arg)
    elif op == "$pull":
        _pull(writer, path, arg, all_values=False)
    elif op == "$pullAll":
        _pull(writer, path, arg, all_values=True)
    elif op == "$pop":
        _pop(writer, path, arg)
    elif op == "$bit":
        found, current = writer.get(path)
        writer.set(path, _bit(current if found else None, arg, raw_path))
