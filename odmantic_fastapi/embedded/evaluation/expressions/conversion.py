"""Type and conversion expression operators: $type, $isNumber, $toString ... $convert."""

import datetime
from typing import Any

from bson import Decimal128, Int64, ObjectId

from ...errors import CommandError
from ..compare import is_number, to_decimal
from ._core import INT32, Operator, Vars, evaluate, is_null, one, type_name

__all__ = ["OPERATORS", "convert", "to_string"]


def to_string(value: Any) -> Any:
    """``$toString``: null for null or missing, an error for types without a string form."""
    if is_null(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, ObjectId | Decimal128 | int | float):
        return str(value)
    raise CommandError(16007, f"can't convert from BSON type {type(value).__name__} to String")


def convert(value: Any, target: str) -> Any:
    """``value`` converted to the named BSON type, with ``$convert``'s errors (241)."""
    if is_null(value):
        return None
    try:
        if target in ("int", "long"):
            if isinstance(value, str):
                number = int(value)
            elif isinstance(value, datetime.datetime):
                number = int(value.replace(tzinfo=datetime.UTC).timestamp() * 1000)
            else:
                number = (
                    int(to_decimal(value))
                    if is_number(value) or isinstance(value, bool)
                    else int(value)
                )
            if target == "int":
                if not INT32[0] <= number <= INT32[1]:
                    raise CommandError(
                        241, f"Conversion would overflow target type in $convert with value {value}"
                    )
                return number
            return Int64(number)
        if target == "double":
            return float(to_decimal(value)) if is_number(value) else float(value)
        if target == "decimal":
            return Decimal128(str(value) if not is_number(value) else to_decimal(value))
        if target == "string":
            return to_string(value)
        if target == "bool":
            if is_number(value):
                return to_decimal(value) != 0
            return True
        if target == "objectId":
            return value if isinstance(value, ObjectId) else ObjectId(value)
        if target == "date":
            if isinstance(value, datetime.datetime):
                return value
            if isinstance(value, str):
                parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
                return (
                    parsed.astimezone(datetime.UTC).replace(tzinfo=None)
                    if parsed.tzinfo
                    else parsed
                )
            if is_number(value):
                return datetime.datetime(1970, 1, 1) + datetime.timedelta(
                    milliseconds=float(to_decimal(value))
                )
    except CommandError:
        raise
    except Exception:
        raise CommandError(241, f"Failed to parse {value!r} as {target} in $convert") from None
    raise CommandError(
        241, f"Unsupported conversion from {type(value).__name__} to {target} in $convert"
    )


_TARGETS = {
    "$toString": "string",
    "$toInt": "int",
    "$toLong": "long",
    "$toDouble": "double",
    "$toDecimal": "decimal",
    "$toBool": "bool",
    "$toObjectId": "objectId",
    "$toDate": "date",
}


def _to_type(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return convert(one(name, expr, root, variables), _TARGETS[name])


def _convert(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    value = evaluate(expr.get("input"), root, variables)
    target = evaluate(expr.get("to"), root, variables)
    if is_null(value) and "onNull" in expr:
        return evaluate(expr["onNull"], root, variables)
    try:
        return convert(value, target)
    except CommandError:
        if "onError" in expr:
            return evaluate(expr["onError"], root, variables)
        raise


def _type(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return type_name(one(name, expr, root, variables))


def _is_number(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return is_number(one(name, expr, root, variables))


OPERATORS: dict[str, Operator] = {
    "$type": _type,
    "$isNumber": _is_number,
    **dict.fromkeys(_TARGETS, _to_type),
    "$convert": _convert,
}
