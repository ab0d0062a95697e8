"""Arithmetic expression operators ($add, $multiply, $round, $log, ...), typed as MongoDB types results."""

import datetime
import decimal
import math
from typing import Any

from bson import Decimal128, Int64

from ...errors import CommandError
from ..compare import is_number, to_decimal
from ._core import INT32, INT64, Operator, Vars, args, evaluate, is_null, one, two

__all__ = ["OPERATORS", "add_values"]


def _number_result(value: Any, *operands: Any) -> Any:
    """Type an arithmetic result as MongoDB does: decimal > double > long > int."""
    if any(isinstance(o, Decimal128) for o in operands):
        return Decimal128(to_decimal(value) if not isinstance(value, decimal.Decimal) else value)
    if any(isinstance(o, float) for o in operands) or isinstance(value, float):
        return float(value)
    number = int(value)
    if any(isinstance(o, Int64) for o in operands) or not INT32[0] <= number <= INT32[1]:
        if INT64[0] <= number <= INT64[1]:
            return Int64(number)
        return float(number)
    return number


def _numbers(name: str, values: list[Any]) -> list[Any] | None:
    if any(is_null(v) for v in values):
        return None
    for v in values:
        if not is_number(v):
            raise CommandError(14, f"{name} only supports numeric types, not {type(v).__name__}")
    return values


def add_values(values: list[Any]) -> Any:
    """``$add`` of already evaluated values (numbers and at most one date)."""
    if any(is_null(v) for v in values):
        return None
    dates = [v for v in values if isinstance(v, datetime.datetime)]
    numbers = [v for v in values if not isinstance(v, datetime.datetime)]
    for v in numbers:
        if not is_number(v):
            raise CommandError(
                14, f"$add only supports numeric or date types, not {type(v).__name__}"
            )
    if len(dates) > 1:
        raise CommandError(16612, "only one date allowed in an $add expression")
    total = sum((to_decimal(v) for v in numbers), decimal.Decimal(0))
    if dates:
        return dates[0] + datetime.timedelta(milliseconds=float(total))
    if any(isinstance(v, Decimal128) for v in numbers):
        return Decimal128(total)
    if any(isinstance(v, float) for v in numbers):
        return float(sum(float(v) for v in numbers))
    return _number_result(int(total), *numbers)


def _add(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return add_values(args(expr, root, variables))


def _binary(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """$subtract, $divide and $mod."""
    a, b = two(name, expr, root, variables)
    if is_null(a) or is_null(b):
        return None
    if name == "$subtract" and isinstance(a, datetime.datetime):
        if isinstance(b, datetime.datetime):
            return Int64(int((a - b).total_seconds() * 1000))
        if is_number(b):
            return a - datetime.timedelta(milliseconds=float(to_decimal(b)))
    if not is_number(a) or not is_number(b):
        raise CommandError(14, f"{name} only supports numeric types")
    x, y = to_decimal(a), to_decimal(b)
    if name == "$subtract":
        result = x - y
    elif name == "$divide":
        if y == 0:
            raise CommandError(2, "can't $divide by zero")
        if isinstance(a, Decimal128) or isinstance(b, Decimal128):
            return Decimal128(x / y)
        return float(a) / float(b)
    else:
        if y == 0:
            raise CommandError(2, "can't $mod by zero")
        result = (
            decimal.Decimal(math.fmod(float(x), float(y)))
            if isinstance(a, float) or isinstance(b, float)
            else x % y
        )
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        return Decimal128(result)
    if isinstance(a, float) or isinstance(b, float):
        return float(result)
    return _number_result(int(result), a, b)


def _multiply(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    values = _numbers(name, args(expr, root, variables))
    if values is None:
        return None
    product = decimal.Decimal(1)
    for v in values:
        product *= to_decimal(v)
    if any(isinstance(v, Decimal128) for v in values):
        return Decimal128(product)
    if any(isinstance(v, float) for v in values):
        return float(math.prod(float(v) for v in values))
    return _number_result(int(product), *values)


def _unary(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """$abs, $ceil, $floor, $sqrt, $exp, $ln and $log10."""
    value = one(name, expr, root, variables)
    if is_null(value):
        return None
    if not is_number(value):
        raise CommandError(28765, f"{name} only supports numeric types")
    number = float(to_decimal(value))
    if name == "$abs":
        return (
            _number_result(abs(to_decimal(value)), value)
            if not isinstance(value, float)
            else abs(value)
        )
    if name == "$ceil":
        return float(math.ceil(number)) if isinstance(value, float) else value
    if name == "$floor":
        return float(math.floor(number)) if isinstance(value, float) else value
    if name == "$sqrt":
        if number < 0:
            raise CommandError(28714, "$sqrt's argument must be greater than or equal to 0")
        return math.sqrt(number)
    if name == "$exp":
        return math.exp(number)
    if number <= 0:
        raise CommandError(28766, f"{name}'s argument must be a positive number")
    return math.log(number) if name == "$ln" else math.log10(number)


def _power(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """$pow and $log."""
    a, b = two(name, expr, root, variables)
    if is_null(a) or is_null(b):
        return None
    if name == "$pow":
        result = float(to_decimal(a)) ** float(to_decimal(b))
        if isinstance(a, float) or isinstance(b, float) or float(to_decimal(b)) < 0:
            return result
        return _number_result(int(to_decimal(a)) ** int(to_decimal(b)), a, b)
    return math.log(float(to_decimal(a)), float(to_decimal(b)))


def _round(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """$round (half to even) and $trunc, to a number of decimal places."""
    items = expr if isinstance(expr, list) else [expr]
    value = evaluate(items[0], root, variables)
    places = evaluate(items[1], root, variables) if len(items) > 1 else 0
    if is_null(value):
        return None
    quant = decimal.Decimal(1).scaleb(-int(places))
    rounding = decimal.ROUND_HALF_EVEN if name == "$round" else decimal.ROUND_DOWN
    result = to_decimal(value).quantize(quant, rounding=rounding)
    if isinstance(value, float):
        return float(result)
    if isinstance(value, Decimal128):
        return Decimal128(result)
    return _number_result(int(result), value)


OPERATORS: dict[str, Operator] = {
    "$add": _add,
    "$subtract": _binary,
    "$divide": _binary,
    "$mod": _binary,
    "$multiply": _multiply,
    **dict.fromkeys(("$abs", "$ceil", "$floor", "$sqrt", "$exp", "$ln", "$log10"), _unary),
    "$pow": _power,
    "$log": _power,
    "$round": _round,
    "$trunc": _round,
}
