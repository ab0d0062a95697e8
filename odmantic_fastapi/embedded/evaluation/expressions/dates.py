"""Date expression operators: $year ... $week, $dateToString and $dateFromString."""

import datetime
from collections.abc import Mapping
from typing import Any

from ...errors import CommandError
from ._core import Operator, Vars, evaluate, is_null
from .conversion import convert

__all__ = ["OPERATORS"]

_PARTS = (
    "$year",
    "$month",
    "$dayOfMonth",
    "$dayOfWeek",
    "$dayOfYear",
    "$hour",
    "$minute",
    "$second",
    "$millisecond",
    "$week",
)


def _date_part(name: str, value: Any) -> Any:
    if is_null(value):
        return None
    if not isinstance(value, datetime.datetime):
        raise CommandError(16006, f"can't convert from BSON type {type(value).__name__} to Date")
    if name == "$year":
        return value.year
    if name == "$month":
        return value.month
    if name == "$dayOfMonth":
        return value.day
    if name == "$dayOfWeek":
        return value.isoweekday() % 7 + 1
    if name == "$dayOfYear":
        return value.timetuple().tm_yday
    if name == "$hour":
        return value.hour
    if name == "$minute":
        return value.minute
    if name == "$second":
        return value.second
    if name == "$millisecond":
        return value.microsecond // 1000
    return int(value.strftime("%U"))


def _part(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    value = evaluate(
        expr["date"] if isinstance(expr, Mapping) and "date" in expr else expr, root, variables
    )
    return _date_part(name, value)


def _date_to_string(name: str, spec: Any, root: Any, variables: Vars) -> Any:
    value = evaluate(spec.get("date"), root, variables)
    if is_null(value):
        return evaluate(spec.get("onNull"), root, variables) if "onNull" in spec else None
    fmt = evaluate(spec.get("format", "%Y-%m-%dT%H:%M:%S.%LZ"), root, variables)
    out = fmt.replace("%L", f"{value.microsecond // 1000:03d}")
    return value.strftime(out.replace("%%", "\x00")).replace("\x00", "%")


def _date_from_string(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return convert(evaluate(expr.get("dateString"), root, variables), "date")


OPERATORS: dict[str, Operator] = {
    **dict.fromkeys(_PARTS, _part),
    "$dateToString": _date_to_string,
    "$dateFromString": _date_from_string,
}
