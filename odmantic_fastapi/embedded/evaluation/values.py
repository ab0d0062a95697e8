"""What filters, expressions and updates share about BSON values: type numbers, regexes, truth."""

import datetime
import re
from collections.abc import Mapping
from typing import Any

from bson import (
    Binary,
    Code,
    DatetimeMS,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
)

from ..errors import CommandError
from .compare import is_number, to_decimal

__all__ = [
    "TYPE_ALIASES",
    "bson_type_name",
    "bson_type_number",
    "compile_regex",
    "is_regex",
    "truthy",
]

TYPE_ALIASES: dict[str, int] = {
    "double": 1,
    "string": 2,
    "object": 3,
    "array": 4,
    "binData": 5,
    "undefined": 6,
    "objectId": 7,
    "bool": 8,
    "date": 9,
    "null": 10,
    "regex": 11,
    "javascript": 13,
    "int": 16,
    "timestamp": 17,
    "long": 18,
    "decimal": 19,
    "minKey": -1,
    "maxKey": 127,
}
_TYPE_NAMES: dict[int, str] = {
    code: name for name, code in TYPE_ALIASES.items() if name != "undefined"
}


def bson_type_number(value: Any) -> int:
    """The numeric BSON type of a value, as ``$type`` reports it."""
    if value is None:
        return 10
    if isinstance(value, bool):
        return 8
    if isinstance(value, Int64):
        return 18
    if isinstance(value, int):
        return 16 if -(2**31) <= value < 2**31 else 18
    if isinstance(value, float):
        return 1
    if isinstance(value, Decimal128):
        return 19
    if isinstance(value, str):
        return 2
    if isinstance(value, Mapping):
        return 3
    if isinstance(value, list | tuple):
        return 4
    if isinstance(value, bytes | Binary):
        return 5
    if isinstance(value, ObjectId):
        return 7
    if isinstance(value, datetime.datetime | DatetimeMS):
        return 9
    if isinstance(value, Regex | re.Pattern):
        return 11
    if isinstance(value, Code):
        return 13
    if isinstance(value, Timestamp):
        return 17
    if isinstance(value, MinKey):
        return -1
    if isinstance(value, MaxKey):
        return 127
    return 0


def bson_type_name(value: Any) -> str:
    """The BSON type alias of a present value, as the ``$type`` expression reports it."""
    return _TYPE_NAMES.get(bson_type_number(value), "unknown")


def is_regex(value: Any) -> bool:
    return isinstance(value, Regex | re.Pattern)


def compile_regex(pattern: Any, options: str = "") -> re.Pattern[str]:
    """A compiled pattern from a string and MongoDB options, a BSON Regex or a pattern."""
    if isinstance(pattern, re.Pattern):
        return pattern
    if isinstance(pattern, Regex):
        flags = pattern.flags if isinstance(pattern.flags, int) else 0
        compiled = pattern.try_compile() if flags else None
        if compiled is not None:
            return compiled
        options = options or _flags_to_options(flags)
        pattern = pattern.pattern
    if not isinstance(pattern, str):
        raise CommandError(2, "$regex has to be a string")
    flags = 0
    for option in options:
        if option == "i":
            flags |= re.IGNORECASE
        elif option == "m":
            flags |= re.MULTILINE
        elif option == "s":
            flags |= re.DOTALL
        elif option == "x":
            flags |= re.VERBOSE
        elif option == "u":
            pass
        else:
            raise CommandError(2, f"invalid flag in regex options: {option}")
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise CommandError(51091, f"Regular expression is invalid: {exc}") from None


def _flags_to_options(flags: int) -> str:
    return "".join(
        letter
        for letter, flag in (
            ("i", re.IGNORECASE),
            ("m", re.MULTILINE),
            ("s", re.DOTALL),
            ("x", re.VERBOSE),
        )
        if flags & flag
    )


def truthy(value: Any) -> bool:
    """Aggregation truthiness: false, null, missing and numeric zero are false."""
    if value is None or value is False:
        return False
    if is_number(value):
        return to_decimal(value) != 0
    return True
