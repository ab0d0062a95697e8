"""Array and object expression operators: $size, $filter, $map, $reduce, $in, $mergeObjects, $setField, ..."""

from collections.abc import Mapping
from typing import Any

from ...errors import CommandError
from ..compare import sort_key, to_decimal
from ..sorting import compile_sort
from ._core import (
    MISSING,
    Operator,
    Vars,
    args,
    array_arg,
    check_built_value,
    check_size,
    checked,
    evaluate,
    is_null,
    one,
    present,
    truth,
    two,
    type_name,
    with_var,
)

__all__ = ["OPERATORS", "RANGE_MEMORY_LIMIT"]

# MongoDB's $range memory limit, counted as it counts it: about 32 bytes per value.
RANGE_MEMORY_LIMIT = 64 * 1024 * 1024
_RANGE_BYTES_PER_ITEM = 32


def _size(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    value = one(name, expr, root, variables)
    if not isinstance(value, list):
        raise CommandError(
            17124,
            f"The argument to $size must be an array. Type of argument was: {type_name(value)}",
        )
    return len(value)


def _element_at(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    array, index = two(name, expr, root, variables)
    array = array_arg(name, array)
    if array is None or is_null(index):
        return None
    i = int(to_decimal(index))
    return array[i] if -len(array) <= i < len(array) else MISSING


def _first_last(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    array = array_arg(name, one(name, expr, root, variables))
    if array is None or not array:
        return MISSING if array is not None else None
    return array[0] if name == "$first" else array[-1]


def _filter(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    array = array_arg(name, evaluate(expr["input"], root, variables))
    if array is None:
        return None
    var = expr.get("as", "this")
    kept = [
        e
        for e in checked(array)
        if truth(evaluate(expr["cond"], root, with_var(variables, var, e)))
    ]
    if "limit" in expr:
        kept = kept[: int(evaluate(expr["limit"], root, variables))]
    return check_built_value(name, kept)


def _map(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    array = array_arg(name, evaluate(expr["input"], root, variables))
    if array is None:
        return None
    var = expr.get("as", "this")
    mapped = [
        present(evaluate(expr["in"], root, with_var(variables, var, e))) for e in checked(array)
    ]
    return check_built_value(name, mapped)


def _reduce(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    array = array_arg(name, evaluate(expr["input"], root, variables))
    if array is None:
        return None
    value = evaluate(expr["initialValue"], root, variables)
    for element in checked(array):
        scope = {**variables, "value": value, "this": element}
        value = evaluate(expr["in"], root, scope)
    return check_built_value(name, value)


def _in(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    item, array = two(name, expr, root, variables)
    if not isinstance(array, list):
        raise CommandError(40081, "$in requires an array as a second argument")
    wanted = sort_key(None if item is MISSING else item)
    return any(sort_key(e) == wanted for e in array)


def _concat_arrays(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    values = args(expr, root, variables)
    if any(is_null(v) for v in values):
        return None
    out: list[Any] = []
    for v in values:
        out.extend(array_arg(name, v) or [])
        check_size(name, len(out) * 8)  # at least 8 bytes a value in BSON
    return check_built_value(name, out)


def _slice(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    items = args(expr, root, variables)
    array = array_arg(name, items[0])
    if array is None:
        return None
    if len(items) == 2:
        n = int(to_decimal(items[1]))
        return array[:n] if n >= 0 else array[n:]
    start, n = int(to_decimal(items[1])), int(to_decimal(items[2]))
    start = start if start >= 0 else max(len(array) + start, 0)
    return array[start : start + n]


def _reverse(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    array = array_arg(name, one(name, expr, root, variables))
    return None if array is None else list(reversed(array))


def _is_array(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return isinstance(one(name, expr, root, variables), list)


def _range(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    items = [int(to_decimal(v)) for v in args(expr, root, variables)]
    span = range(*items)
    if len(span) * _RANGE_BYTES_PER_ITEM > RANGE_MEMORY_LIMIT:
        raise CommandError(
            146,
            f"$range would use too much memory ({len(span) * _RANGE_BYTES_PER_ITEM} bytes) and "
            f"cannot spill to disk. Memory limit: {RANGE_MEMORY_LIMIT} bytes",
        )
    return list(span)


def _index_of(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    items = args(expr, root, variables)
    array = array_arg(name, items[0])
    if array is None:
        return None
    wanted = sort_key(items[1])
    for i, element in enumerate(array):
        if sort_key(element) == wanted:
            return i
    return -1


def _sort_array(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    array = array_arg(name, evaluate(expr["input"], root, variables))
    if array is None:
        return None
    spec = expr["sortBy"]
    if isinstance(spec, Mapping):
        key_fn = compile_sort(spec)
        assert key_fn is not None
        return sorted(array, key=lambda e: key_fn(e if isinstance(e, Mapping) else {}))
    return sorted(array, key=sort_key, reverse=spec == -1)


def _merge_objects(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    merged: dict[str, Any] = {}
    for value in args(expr, root, variables):
        if is_null(value):
            continue
        if not isinstance(value, Mapping):
            raise CommandError(
                40400,
                f"$mergeObjects requires object inputs, but input is of type {type_name(value)}",
            )
        merged.update(value)
    return merged


def _object_to_array(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    value = one(name, expr, root, variables)
    if is_null(value):
        return None
    return [{"k": k, "v": v} for k, v in value.items()]


def _array_to_object(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    value = one(name, expr, root, variables)
    if is_null(value):
        return None
    obj: dict[str, Any] = {}
    for item in value:
        if isinstance(item, Mapping):
            obj[item["k"]] = item["v"]
        else:
            obj[item[0]] = item[1]
    return obj


def _field_name(name: str, expr: Mapping[str, Any]) -> str:
    """The ``field`` of $getField/$setField/$unsetField: a string constant, or one in $literal.

    A constant name may hold dots or start with ``$``, which is why these operators exist;
    one that starts with ``$`` must come in $literal, or it would read as a field path.
    """
    field = expr.get("field")
    if isinstance(field, Mapping) and list(field) == ["$literal"]:
        field = field["$literal"]
    elif isinstance(field, str) and field.startswith("$"):
        raise CommandError(
            5943201 if name == "$getField" else 4161105,
            f"{name}: 'field' must be a string without a '$' prefix, or wrapped in $literal",
        )
    if not isinstance(field, str):
        raise CommandError(
            5943201 if name == "$getField" else 4161106,
            f"{name} requires 'field' to evaluate to type String, but got {type_name(field)}",
        )
    return field


def _object_input(name: str, expr: Mapping[str, Any], root: Any, variables: Vars) -> Any:
    if "input" not in expr:
        raise CommandError(4161102, f"{name} requires 'input' to be specified")
    source = evaluate(expr["input"], root, variables)
    if is_null(source):
        return None
    if not isinstance(source, Mapping):
        raise CommandError(
            4161105, f"{name} requires 'input' to evaluate to type Object, got {type_name(source)}"
        )
    return source


def _get_field(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    if not isinstance(expr, Mapping) or "field" not in expr:
        # The short form names a field of the current document.
        expr = {"field": expr}
    field = _field_name(name, expr)
    source = evaluate(expr.get("input", "$$CURRENT"), root, variables)
    if is_null(source):
        return None
    if not isinstance(source, Mapping):
        return MISSING
    return source.get(field, MISSING)


def _set_field(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    if not isinstance(expr, Mapping):
        raise CommandError(4161100, f"{name} only supports an object as its argument")
    field = _field_name(name, expr)
    source = _object_input(name, expr, root, variables)
    if name == "$unsetField":
        value = MISSING
    else:
        if "value" not in expr:
            raise CommandError(4161103, f"{name} requires 'value' to be specified")
        value = evaluate(expr["value"], root, variables)
    if source is None:
        return None
    out = {k: v for k, v in source.items() if k != field}
    if value is not MISSING:
        out[field] = value
        if field in source:
            # Setting a field that exists keeps its place among the others.
            out = {k: (value if k == field else v) for k, v in source.items()}
    return out


OPERATORS: dict[str, Operator] = {
    "$size": _size,
    "$arrayElemAt": _element_at,
    "$first": _first_last,
    "$last": _first_last,
    "$filter": _filter,
    "$map": _map,
    "$reduce": _reduce,
    "$in": _in,
    "$concatArrays": _concat_arrays,
    "$slice": _slice,
    "$reverseArray": _reverse,
    "$isArray": _is_array,
    "$range": _range,
    "$indexOfArray": _index_of,
    "$sortArray": _sort_array,
    "$mergeObjects": _merge_objects,
    "$objectToArray": _object_to_array,
    "$arrayToObject": _array_to_object,
    "$getField": _get_field,
    "$setField": _set_field,
    "$unsetField": _set_field,
}
