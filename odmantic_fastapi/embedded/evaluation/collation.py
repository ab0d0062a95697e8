"""Collations: how strings compare when a command or an index gives a ``collation``.

The comparison follows the levels of the Unicode Collation Algorithm that
MongoDB's options name, computed with :mod:`unicodedata` rather than ICU:

- primary: base letters (accents stripped, case folded), with
  ``numericOrdering`` runs of digits compared as numbers;
- secondary: accents; tertiary: case (lower before upper, unless
  ``caseFirst: "upper"``); ``caseLevel`` puts case right after the primary
  level (or the secondary, at strength 2); strength 5 adds the code points;
- ``alternate: "shifted"`` ignores spaces and punctuation (only spaces with
  ``maxVariable: "space"``) at strengths 1 to 3.

Orders are the root (language-neutral) ones for every locale: the
tailorings of particular languages (Swedish å after z, for instance) are not
applied. ``{locale: "simple"}`` is binary comparison, as without a collation.
"""

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import CommandError
from .compare import collating

__all__ = ["Collation", "collated", "in_collation", "parse_collation"]

_LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Z][a-z]{3})?(_([A-Z]{2}|[0-9]{3}))?(@[a-z0-9=;-]+)?$")
_OPTIONS = frozenset(
    {
        "locale",
        "strength",
        "caseLevel",
        "caseFirst",
        "numericOrdering",
        "alternate",
        "maxVariable",
        "normalization",
        "backwards",
        "version",
    }
)
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Collation:
    """A parsed, non-simple collation: what ``string_key`` orders strings by."""

    locale: str
    strength: int = 3
    case_level: bool = False
    case_first: str = "off"
    numeric_ordering: bool = False
    alternate: str = "non-ignorable"
    max_variable: str = "punct"
    backwards: bool = False

    def to_document(self) -> dict[str, Any]:
        """The collation as MongoDB reports it (listIndexes, listCollections): every field set."""
        return {
            "locale": self.locale,
            "caseLevel": self.case_level,
            "caseFirst": self.case_first,
            "strength": self.strength,
            "numericOrdering": self.numeric_ordering,
            "alternate": self.alternate,
            "maxVariable": self.max_variable,
            "normalization": False,
            "backwards": self.backwards,
            "version": "57.1",
        }

    def string_key(self, value: str) -> tuple[Any, ...]:
        return _string_key(self, value)


def _ignorable(self: Collation, char: str) -> bool:
    if self.alternate != "shifted" or self.strength > 3:
        return False
    category = unicodedata.category(char)
    if self.max_variable == "space":
        return category.startswith("Z") or char.isspace()
    return category[0] in "PZ" or char.isspace()


@lru_cache(maxsize=65536)
def _string_key(self: Collation, value: str) -> tuple[Any, ...]:
    primary: list[Any] = []
    accents: list[str] = []
    cases: list[int] = []
    upper_first = self.case_first == "upper"
    position = 0
    decomposed = unicodedata.normalize("NFD", value)
    while position < len(decomposed):
        char = decomposed[position]
        if self.numeric_ordering and char.isascii() and char.isdigit():
            digits = _DIGITS.match(decomposed, position)
            assert digits is not None
            number = int(digits.group())
            # Digits sort before letters; a longer number is a larger one.
            primary.append((0, len(str(number)), number))
            accents.append("")
            cases.append(0)
            position = digits.end()
            continue
        position += 1
        if unicodedata.combining(char):
            if accents:
                accents[-1] += char
            continue
        if _ignorable(self, char):
            continue
        folded = char.casefold()
        primary.append((1, folded))
        accents.append("")
        is_upper = char != folded and char.lower() == folded
        cases.append(int(is_upper != upper_first))
    secondary = tuple(reversed(accents)) if self.backwards else tuple(accents)
    levels: list[Any] = [tuple(primary)]
    if self.strength >= 2:
        levels.append(secondary)
    if self.case_level or self.strength >= 3:
        levels.append(tuple(cases))
    if self.strength >= 5:
        levels.append(value)
    return tuple(levels)


def parse_collation(value: Any) -> Collation | None:
    """A command's or index's ``collation`` checked as MongoDB checks it; None for simple."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CommandError(
            14,
            f"BSON field 'collation' is the wrong type '{type(value).__name__}', expected 'object'",
        )
    for key in value:
        if key not in _OPTIONS:
            raise CommandError(40415, f"BSON field 'collation.{key}' is an unknown field.")
    locale = value.get("locale")
    if not isinstance(locale, str):
        raise CommandError(40414, "BSON field 'collation.locale' is missing but a required field")
    if locale == "simple":
        if len(value) > 1 and any(k not in ("locale", "version") for k in value):
            raise CommandError(
                51161, "Collation spec with locale 'simple' may have no other fields"
            )
        return None
    if not _LOCALE.match(locale):
        raise CommandError(2, f"Field 'locale' is invalid in: {dict(value)}")
    strength = value.get("strength", 3)
    if isinstance(strength, bool) or not isinstance(strength, int) or not 1 <= strength <= 5:
        raise CommandError(51024, "Field 'strength' must be an integer 1 through 5.")
    case_first = value.get("caseFirst", "off")
    if case_first not in ("upper", "lower", "off"):
        raise CommandError(2, "Field 'caseFirst' must be 'upper', 'lower' or 'off'.")
    alternate = value.get("alternate", "non-ignorable")
    if alternate not in ("non-ignorable", "shifted"):
        raise CommandError(2, "Field 'alternate' must be 'non-ignorable' or 'shifted'.")
    max_variable = value.get("maxVariable", "punct")
    if max_variable not in ("punct", "space"):
        raise CommandError(2, "Field 'maxVariable' must be 'punct' or 'space'.")
    flags = {}
    for name in ("caseLevel", "numericOrdering", "normalization", "backwards"):
        flag = value.get(name, False)
        if not isinstance(flag, bool):
            raise CommandError(
                14, f"BSON field 'collation.{name}' is the wrong type, expected type 'bool'"
            )
        flags[name] = flag
    return Collation(
        locale=locale,
        strength=strength,
        case_level=flags["caseLevel"],
        case_first=case_first,
        numeric_ordering=flags["numericOrdering"],
        alternate=alternate,
        max_variable=max_variable,
        backwards=flags["backwards"],
    )


@contextmanager
def in_collation(collation: Collation | None) -> Iterator[None]:
    """Comparisons inside the block follow ``collation`` (binary when None)."""
    if collation is None:
        yield
        return
    with collating(collation.string_key):
        yield


def collated(collation: Collation | None, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, comparing strings by ``collation`` while it runs."""
    if collation is None:
        return fn

    def run(*args: Any, **kwargs: Any) -> Any:
        with collating(collation.string_key):
            return fn(*args, **kwargs)

    return run
