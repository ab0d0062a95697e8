"""Query filters over the wire: every operator, type bracketing, arrays, errors and $text."""

import datetime
from typing import Any

import pytest
from bson import Regex
from pymongo.database import Database
from pymongo.errors import OperationFailure

QUERIES: list[tuple[dict[str, Any], list[int]]] = [
    ({"n": 5}, [1]),
    ({"n": {"$gt": 6}}, [2, 4]),  # type bracketing: the string "7" is not a number
    ({"n": {"$gte": "5"}}, [3]),
    ({"n": {"$in": [5, "7"]}}, [1, 3]),
    ({"n": {"$nin": [5, "7", None]}}, [2, 4]),
    ({"n": None}, [5]),
    ({"nul": None}, [1, 2, 3, 4, 5]),
    ({"nul": {"$exists": True}}, [3]),
    ({"s": {"$exists": False}}, [4]),
    ({"n": {"$type": "number"}}, [1, 2, 4]),
    ({"n": {"$type": "long"}}, [4]),
    ({"n": {"$type": ["string", "null"]}}, [3, 5]),
    ({"tags": "a"}, [1, 4]),
    ({"tags": ["b"]}, [2]),
    ({"tags": {"$all": ["a", "c"]}}, [4]),
    ({"tags": {"$size": 0}}, [3]),
    ({"tags.1": "b"}, [1]),
    ({"sub.x": 1}, [1, 4]),
    ({"sub.x": {"$gt": 4}}, [4]),
    ({"items.k": 3}, [2]),
    ({"items": {"$elemMatch": {"k": {"$gte": 2}, "v": "q"}}}, [1]),
    ({"items.v": "p", "items.k": 2}, [1]),
    ({"s": {"$regex": "^b", "$options": "i"}}, [2]),
    ({"s": Regex("an+a")}, [2]),
    ({"s": {"$not": {"$regex": "a"}}}, [3, 4]),  # $not also matches a missing field
    ({"n": {"$mod": [5, 0]}}, [1, 2, 4]),  # 10.5 is truncated to 10
    ({"$or": [{"n": 5}, {"s": "date"}]}, [1, 5]),
    ({"$and": [{"tags": "a"}, {"tags": "d"}]}, [4]),
    ({"$nor": [{"tags": "a"}, {"n": None}]}, [2, 3]),
    ({"$expr": {"$gt": [{"$size": {"$ifNull": ["$tags", []]}}, 1]}}, [1, 4]),
    ({"d": {"$lt": datetime.datetime(2025, 1, 1)}}, [5]),
    ({"sub": {"x": 2}}, [2]),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES, ids=[repr(q) for q, _ in QUERIES])
def test_query_operators_match_mongodb(
    coll: Any, query: dict[str, Any], expected: list[int]
) -> None:
    assert sorted(d["_id"] for d in coll.find(query)) == expected


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"n": {"$foo": 1}}, 2),
        ({"$and": []}, 2),
        ({"n": {"$in": 5}}, 2),
        ({"$where": "1"}, 2),
        ({"s": {"$regex": "("}}, 51091),
        ({"$text": {"$search": "x"}}, 27),
    ],
)
def test_invalid_queries_are_errors(coll: Any, query: dict[str, Any], code: int) -> None:
    with pytest.raises(OperationFailure) as info:
        coll.find_one(query)
    assert info.value.code == code


def test_text_search_with_a_text_index(db: Database[Any]) -> None:
    db.t.create_index([("title", "text"), ("body", "text")])
    db.t.insert_many(
        [
            {"_id": 1, "title": "Fast money transfers", "body": "with transactions"},
            {"_id": 2, "title": "Slow cooking", "body": "transactions are not involved"},
            {"_id": 3, "title": "Gardening", "body": "roses"},
        ]
    )
    assert sorted(d["_id"] for d in db.t.find({"$text": {"$search": "transactions"}})) == [1, 2]
    assert [d["_id"] for d in db.t.find({"$text": {"$search": "transactions -cooking"}})] == [1]
    assert [d["_id"] for d in db.t.find({"$text": {"$search": '"money transfers"'}})] == [1]
    scored = db.t.find_one({"$text": {"$search": "money"}}, {"score": {"$meta": "textScore"}})
    assert scored["_id"] == 1 and scored["score"] > 0
