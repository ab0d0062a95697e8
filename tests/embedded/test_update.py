"""Update operators, positional and arrayFilters updates, and invalid updates, over the wire."""

from typing import Any

import pytest
from bson import Int64
from pymongo.database import Database
from pymongo.errors import OperationFailure

UPDATES: list[tuple[dict[str, Any], Any, dict[str, Any]]] = [
    ({"a": 1}, {"$set": {"b.c": 2}}, {"a": 1, "b": {"c": 2}}),
    ({"a": 1, "b": 2}, {"$unset": {"a": ""}}, {"b": 2}),
    ({"a": 1}, {"$inc": {"a": 2, "z": 1}}, {"a": 3, "z": 1}),
    ({"a": 2**31 - 1}, {"$inc": {"a": 1}}, {"a": Int64(2**31)}),
    ({"a": 2}, {"$mul": {"a": 2.5}}, {"a": 5.0}),
    ({"a": 5}, {"$min": {"a": 3}, "$max": {"b": 1}}, {"a": 3, "b": 1}),
    ({"a": 1}, {"$rename": {"a": "b"}}, {"b": 1}),
    ({"l": [3, 1]}, {"$push": {"l": {"$each": [2, 5], "$sort": 1, "$slice": 3}}}, {"l": [1, 2, 3]}),
    ({"l": [1]}, {"$push": {"l": {"$each": [0], "$position": 0}}}, {"l": [0, 1]}),
    ({"l": [1, 2]}, {"$addToSet": {"l": {"$each": [2, 3]}}}, {"l": [1, 2, 3]}),
    ({"l": [1, 2, 3, 2]}, {"$pull": {"l": {"$gte": 2}}}, {"l": [1]}),
    ({"l": [{"k": 1}, {"k": 2}]}, {"$pull": {"l": {"k": 1}}}, {"l": [{"k": 2}]}),
    ({"l": [1, 2, 1]}, {"$pullAll": {"l": [1]}}, {"l": [2]}),
    ({"l": [1, 2, 3]}, {"$pop": {"l": -1}}, {"l": [2, 3]}),
    ({"l": [1, 2]}, {"$set": {"l.3": 9}}, {"l": [1, 2, None, 9]}),
    (
        {"l": [{"g": 1}, {"g": 9}]},
        {"$set": {"l.$[].h": 0}},
        {"l": [{"g": 1, "h": 0}, {"g": 9, "h": 0}]},
    ),
    ({"a": 6}, {"$bit": {"a": {"and": 3}}}, {"a": 2}),
    ({"a": 1}, [{"$set": {"b": {"$add": ["$a", 1]}}}], {"a": 1, "b": 2}),
]


@pytest.mark.parametrize(
    ("before", "update", "after"), UPDATES, ids=[repr(u) for _, u, _ in UPDATES]
)
def test_update_operators(
    db: Database[Any], before: dict[str, Any], update: Any, after: dict[str, Any]
) -> None:
    db.u.insert_one({"_id": 1, **before})
    db.u.update_one({"_id": 1}, update)
    assert db.u.find_one({"_id": 1}) == {"_id": 1, **after}


def test_array_filters_and_positional_updates(db: Database[Any]) -> None:
    db.u.insert_one(
        {"_id": 1, "grades": [80, 95, 90], "items": [{"k": 1, "q": 0}, {"k": 2, "q": 0}]}
    )
    db.u.update_one({"_id": 1}, {"$set": {"grades.$[g]": 100}}, array_filters=[{"g": {"$gte": 90}}])
    db.u.update_one({"_id": 1, "items.k": 2}, {"$inc": {"items.$.q": 5}})
    assert db.u.find_one({"_id": 1}) == {
        "_id": 1,
        "grades": [80, 100, 100],
        "items": [{"k": 1, "q": 0}, {"k": 2, "q": 5}],
    }


@pytest.mark.parametrize(
    ("update", "code"),
    [
        ({"$set": {"a": 1}, "$inc": {"a": 1}}, 40),
        ({"$set": {"a": 1, "a.b": 2}}, 40),
        ({"$inc": {"s": 1}}, 14),
        ({"$push": {"s": 1}}, 2),
        ({"$set": {"s.x": 1}}, 28),
        ({"$frob": {"a": 1}}, 9),
        ({"$set": {"_id": 2}}, 66),
    ],
)
def test_invalid_updates_are_errors_and_change_nothing(
    db: Database[Any], update: dict[str, Any], code: int
) -> None:
    db.u.insert_one({"_id": 1, "s": "text"})
    with pytest.raises(OperationFailure) as info:
        db.u.update_one({"_id": 1}, update)
    assert info.value.code == code
    assert db.u.find_one({"_id": 1}) == {"_id": 1, "s": "text"}
