"""Small helpers ODMantic keeps in ``odmantic.utils``, under the same names.

The metaclass checks names with them; code written against ODMantic that
imports them from here keeps working.
"""

import re

__all__ = [
    "Undefined",
    "check_database_name",
    "is_dunder",
    "raise_on_invalid_collection_name",
    "raise_on_invalid_key_name",
    "to_snake_case",
]


class Undefined:
    """Marks a value that is absent (distinct from None)."""


def is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def raise_on_invalid_key_name(name: str) -> None:
    """Refuse a document key MongoDB would misread (an operator or a dotted path)."""
    if name.startswith("$"):
        raise TypeError("key_name cannot start with the dollar sign ($) character")
    if "." in name:
        raise TypeError("key_name cannot contain the dot (.) character")


def raise_on_invalid_collection_name(collection_name: str, cls_name: str) -> None:
    if "$" in collection_name:
        raise TypeError(f"Invalid collection name for {cls_name}: cannot contain '$'")
    if collection_name == "":
        raise TypeError(f"Invalid collection name for {cls_name}: cannot be empty")
    if collection_name.startswith("system."):
        raise TypeError(f"Invalid collection name for {cls_name}: cannot start with 'system.'")


_FORBIDDEN_DATABASE_CHARACTERS = frozenset('/\\. "$*<>:|?')


def check_database_name(database: str) -> None:
    """Refuse a database name MongoDB would not accept (engines and settings alike)."""
    forbidden = _FORBIDDEN_DATABASE_CHARACTERS & set(database)
    if forbidden:
        raise ValueError(f"database name cannot contain: {' '.join(sorted(forbidden))}")


def to_snake_case(name: str) -> str:
    """``BookModel`` -> ``book_model``: how a class name becomes a collection name."""
    tmp = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", tmp).lower()
