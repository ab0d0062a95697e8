"""What filters, expressions and updates share about BSON values: type numbers, regexes, truth."""

import contextlib
import datetime
import re
from collections.abc import Mapping
from typing import Any, Protocol

import bson
import re2
import regex

from ..errors import CommandError
from . import budget
from .compare import is_number, to_decimal

__all__ = [
    "REGEX_FALLBACK_SECONDS",
    "TYPE_ALIASES",
    "Pattern",
    "RegexMatch",
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


# The BSON type number of each kind of Python value other than a plain int, which
# is 16 or 18 by its width (bool and Int64 are ints to isinstance, with numbers of their own).
_TYPE_NUMBERS: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (bool, 8),
    (bson.Int64, 18),
    (float, 1),
    (bson.Decimal128, 19),
    (str, 2),
    (Mapping, 3),
    ((list, tuple), 4),
    ((bytes, bson.Binary), 5),
    (bson.ObjectId, 7),
    ((datetime.datetime, bson.DatetimeMS), 9),
    ((bson.Regex, re.Pattern), 11),
    (bson.Code, 13),
    (bson.Timestamp, 17),
    (bson.MinKey, -1),
    (bson.MaxKey, 127),
)


def bson_type_number(value: Any) -> int:
    """The numeric BSON type of a value, as ``$type`` reports it (0 for none of them)."""
    if value is None:
        return 10
    if isinstance(value, int) and not isinstance(value, bool | bson.Int64):
        return 16 if -(2**31) <= value < 2**31 else 18
    for kind, number in _TYPE_NUMBERS:
        if isinstance(value, kind):
            return number
    return 0


def bson_type_name(value: Any) -> str:
    """The BSON type alias of a present value, as the ``$type`` expression reports it."""
    return _TYPE_NAMES.get(bson_type_number(value), "unknown")


def is_regex(value: Any) -> bool:
    return isinstance(value, bson.Regex | re.Pattern)


# A pattern RE2 cannot run (backreferences, lookaround, ...) falls back to the
# regex module, which may backtrack: it gets this long per search at most.
REGEX_FALLBACK_SECONDS = 0.1

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class RegexMatch(Protocol):
    def group(self, index: int = 0, /) -> Any: ...

    def start(self, index: int = 0, /) -> int: ...

    def groups(self) -> tuple[Any, ...]: ...


class Pattern:
    """A compiled regular expression that cannot stall the server.

    RE2 runs it in linear time when its syntax allows; otherwise the regex
    module runs it with a time budget (:data:`REGEX_FALLBACK_SECONDS`, or less
    when the command's maxTimeMS ends sooner).
    """

    def __init__(self, pattern: str, options: str) -> None:
        self.pattern = pattern
        self.options = options
        inline = "".join(letter for letter in options if letter in "ims")
        self._linear: Any = None
        self._fallback: Any = None
        if "x" not in options:
            with contextlib.suppress(re2.error):
                self._linear = re2.compile(
                    f"(?{inline}){pattern}" if inline else pattern, options=_RE2_OPTIONS
                )
        if self._linear is None:
            flags = regex.VERSION0
            for letter, flag in (
                ("i", regex.IGNORECASE),
                ("m", regex.MULTILINE),
                ("s", regex.DOTALL),
                ("x", regex.VERBOSE),
            ):
                if letter in options:
                    flags |= flag
            try:
                self._fallback = regex.compile(pattern, flags)
            except regex.error as exc:
                raise CommandError(51091, f"Regular expression is invalid: {exc}") from None

    def search(self, text: str) -> RegexMatch | None:
        if self._linear is not None:
            found: RegexMatch | None = self._linear.search(text)
            return found
        left = budget.remaining()
        limit = REGEX_FALLBACK_SECONDS if left is None else min(left, REGEX_FALLBACK_SECONDS)
        try:
            # concurrent: the GIL is released while it matches.
            found = self._fallback.search(text, timeout=max(limit, 0.001), concurrent=True)
        except TimeoutError:
            budget.check()
            raise CommandError(
                2,
                f"the regular expression /{self.pattern}/ needs backtracking (RE2 cannot run it) "
                f"and took longer than {REGEX_FALLBACK_SECONDS * 1000:.0f} ms on one value",
            ) from None
        return found


def compile_regex(pattern: Any, options: str = "") -> Pattern:
    """A compiled pattern from a string and MongoDB options, a BSON Regex or a Python pattern."""
    if isinstance(pattern, re.Pattern):
        options = options or _flags_to_options(pattern.flags)
        pattern = pattern.pattern
    elif isinstance(pattern, bson.Regex):
        flags = pattern.flags if isinstance(pattern.flags, int) else 0
        options = options or _flags_to_options(flags)
        pattern = pattern.pattern
    if not isinstance(pattern, str):
        raise CommandError(2, "$regex has to be a string")
    for option in options:
        if option not in "imsxu":
            raise CommandError(2, f"invalid flag in regex options: {option}")
    return Pattern(pattern, options.replace("u", ""))


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
