"""Update documents built from model fields, for :meth:`AIOEngine.update` (beyond ODMantic).

``set_(Account.frozen, True) & inc(Account.balance, -5)`` is
``{"$set": {"frozen": True}, "$inc": {"balance": -5}}``: fields name their
key names (dotted into embedded models) and values are stored the way the
query builder stores them (enum values, ids of model instances, dates at
millisecond precision). An update that touches one path twice is refused
here, before the server would refuse it.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from .query import FieldProxyAny, _to_bson

__all__ = [
    "UpdateExpression",
    "add_to_set",
    "current_date",
    "inc",
    "max_",
    "min_",
    "mul",
    "pull",
    "push",
    "rename",
    "set_",
    "unset",
]


class UpdateExpression(dict[str, dict[str, Any]]):
    """A MongoDB update document; ``&`` merges two of them."""

    def __repr__(self) -> str:
        return f"UpdateExpression({dict.__repr__(self)})"

    def __and__(self, other: Mapping[str, Mapping[str, Any]]) -> "UpdateExpression":
        return combine(self, other)


def combine(*updates: Mapping[str, Mapping[str, Any]]) -> UpdateExpression:
    """One update document applying all of ``updates``.

    Raises:
        ValueError: two of them write the same field (MongoDB would refuse it).
    """
    merged = UpdateExpression()
    seen: dict[str, str] = {}
    for update in updates:
        for operator, assignments in update.items():
            if not operator.startswith("$"):
                raise ValueError(
                    f"update documents hold operators such as $set, not the field {operator!r}"
                )
            for path in assignments:
                for other, other_operator in seen.items():
                    if _overlap(path, other):
                        raise ValueError(
                            f"the update writes {path!r} twice ({other_operator} on {other!r}, "
                            f"{operator})"
                        )
                seen[path] = operator
            merged.setdefault(operator, {}).update(assignments)
    return merged


def _overlap(path: str, other: str) -> bool:
    """Whether two paths name the same value or one holds the other (a conflict for MongoDB)."""
    return path == other or path.startswith(other + ".") or other.startswith(path + ".")


def _single(operator: str, field: FieldProxyAny, value: Any) -> UpdateExpression:
    return UpdateExpression({operator: {+field: value}})


def set_(field: FieldProxyAny, value: Any) -> UpdateExpression:
    """Set the field to ``value``."""
    return _single("$set", field, _to_bson(value))


def unset(field: FieldProxyAny) -> UpdateExpression:
    """Remove the field from the document (it reads back as its default, if it has one)."""
    return _single("$unset", field, "")


def inc(field: FieldProxyAny, amount: int | float | Any) -> UpdateExpression:
    """Add ``amount`` to a number (a missing field counts as 0)."""
    return _single("$inc", field, _to_bson(amount))


def mul(field: FieldProxyAny, factor: int | float | Any) -> UpdateExpression:
    """Multiply a number by ``factor``."""
    return _single("$mul", field, _to_bson(factor))


def min_(field: FieldProxyAny, value: Any) -> UpdateExpression:
    """Lower the field to ``value`` if ``value`` is smaller."""
    return _single("$min", field, _to_bson(value))


def max_(field: FieldProxyAny, value: Any) -> UpdateExpression:
    """Raise the field to ``value`` if ``value`` is larger."""
    return _single("$max", field, _to_bson(value))


def push(field: FieldProxyAny, *values: Any) -> UpdateExpression:
    """Append the values to an array."""
    if not values:
        raise ValueError("push needs at least one value")
    return _single("$push", field, {"$each": [_to_bson(v) for v in values]})


def add_to_set(field: FieldProxyAny, *values: Any) -> UpdateExpression:
    """Append the values an array does not hold yet."""
    if not values:
        raise ValueError("add_to_set needs at least one value")
    return _single("$addToSet", field, {"$each": [_to_bson(v) for v in values]})


def pull(field: FieldProxyAny, *values: Any) -> UpdateExpression:
    """Remove every occurrence of the values from an array."""
    if not values:
        raise ValueError("pull needs at least one value")
    return _single("$pull", field, {"$in": [_to_bson(v) for v in values]})


def rename(field: FieldProxyAny, new_key: str) -> UpdateExpression:
    """Move the field's value to the key ``new_key`` (for migrations)."""
    return _single("$rename", field, new_key)


def current_date(field: FieldProxyAny) -> UpdateExpression:
    """Set a datetime field to the server's current time."""
    return _single("$currentDate", field, True)


def update_document(
    updates: Iterable[Mapping[str, Mapping[str, Any]]],
) -> UpdateExpression:
    """The update document for ``engine.update(..., *updates)``.

    Raises:
        ValueError: no update was given, or one is not an operator document.
    """
    updates = list(updates)
    if not updates:
        raise ValueError("update needs at least one update expression, such as set_(field, value)")
    return combine(*updates)
