"""Query, update and aggregation semantics over the wire, table-driven, as MongoDB defines them."""

import datetime
from typing import Any

import pytest
from bson import Int64, ObjectId, Regex
from pymongo.database import Database
from pymongo.errors import DocumentTooLarge, OperationFailure, WriteError

DOCS: list[dict[str, Any]] = [
    {
        "_id": 1,
        "n": 5,
        "s": "apple",
        "tags": ["a", "b"],
        "sub": {"x": 1},
        "items": [{"k": 1, "v": "p"}, {"k": 2, "v": "q"}],
    },
    {
        "_id": 2,
        "n": 10.5,
        "s": "Banana",
        "tags": ["b"],
        "sub": {"x": 2},
        "items": [{"k": 3, "v": "p"}],
    },
    {"_id": 3, "n": "7", "s": "cherry", "tags": [], "nul": None},
    {"_id": 4, "n": Int64(20), "tags": ["a", "c", "d"], "sub": {"x": [1, 5]}},
    {"_id": 5, "n": None, "s": "date", "d": datetime.datetime(2024, 1, 1)},
]

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


@pytest.fixture
def coll(db: Database[Any]) -> Any:
    db.c.insert_many(DOCS)
    return db.c


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


def test_sort_follows_bson_type_order_and_arrays_sort_by_their_extremes(coll: Any) -> None:
    ascending = [d["_id"] for d in coll.find({}, {"_id": 1}).sort([("n", 1), ("_id", 1)])]
    assert ascending == [5, 1, 2, 4, 3]  # null < numbers < strings
    by_tags = [d["_id"] for d in coll.find({"tags": {"$ne": []}}).sort("tags", -1)]
    # Descending by each array's largest element ("d" > "b" == "b"); missing sorts as null, last.
    assert by_tags == [4, 1, 2, 5]


def test_projections(coll: Any) -> None:
    assert coll.find_one({"_id": 1}, {"sub.x": 1}) == {"_id": 1, "sub": {"x": 1}}
    assert coll.find_one({"_id": 1}, {"items": 0, "tags": 0, "sub": 0, "_id": 0}) == {
        "n": 5,
        "s": "apple",
    }
    assert coll.find_one({"_id": 4}, {"tags": {"$slice": -2}, "_id": 0, "n": 0, "sub": 0}) == {
        "tags": ["c", "d"]
    }
    assert coll.find_one({"items.k": 2}, {"items.$": 1})["items"] == [{"k": 2, "v": "q"}]
    with pytest.raises(OperationFailure):
        coll.find_one({}, {"a": 1, "b": 0})


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


def test_aggregation_stages(coll: Any) -> None:
    pipeline = [
        {"$match": {"tags": {"$exists": True}}},
        {"$unwind": {"path": "$tags", "preserveNullAndEmptyArrays": True}},
        {"$group": {"_id": "$tags", "count": {"$sum": 1}, "ids": {"$push": "$_id"}}},
        {"$sort": {"count": -1, "_id": 1}},
        {"$limit": 2},
        {"$project": {"tag": "$_id", "count": 1, "_id": 0}},
    ]
    assert list(coll.aggregate(pipeline)) == [{"count": 2, "tag": "a"}, {"count": 2, "tag": "b"}]
    facet = list(
        coll.aggregate(
            [
                {
                    "$facet": {
                        "n": [{"$count": "total"}],
                        "top": [{"$sortByCount": "$s"}, {"$limit": 1}],
                    }
                }
            ]
        )
    )
    assert facet[0]["n"] == [{"total": 5}]
    replaced = list(coll.aggregate([{"$match": {"_id": 1}}, {"$replaceRoot": {"newRoot": "$sub"}}]))
    assert replaced == [{"x": 1}]
    with pytest.raises(OperationFailure) as info:
        list(coll.aggregate([{"$match": {"_id": 1}}, {"$replaceRoot": {"newRoot": "$s"}}]))
    assert info.value.code == 40228


def test_lookup_with_a_pipeline_and_let(db: Database[Any]) -> None:
    db.orders.insert_many([{"_id": 1, "item": "x", "qty": 5}, {"_id": 2, "item": "y", "qty": 1}])
    db.stock.insert_many([{"item": "x", "have": 10}, {"item": "y", "have": 0}])
    result = list(
        db.orders.aggregate(
            [
                {
                    "$lookup": {
                        "from": "stock",
                        "let": {"item": "$item", "qty": "$qty"},
                        "pipeline": [
                            {
                                "$match": {
                                    "$expr": {
                                        "$and": [
                                            {"$eq": ["$item", "$$item"]},
                                            {"$gte": ["$have", "$$qty"]},
                                        ]
                                    }
                                }
                            },
                            {"$project": {"_id": 0, "have": 1}},
                        ],
                        "as": "available",
                    }
                },
                {"$project": {"available": 1}},
            ]
        )
    )
    assert result == [{"_id": 1, "available": [{"have": 10}]}, {"_id": 2, "available": []}]


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


def test_unique_sparse_and_partial_indexes(db: Database[Any]) -> None:
    db.i.create_index("email", unique=True, sparse=True)
    db.i.insert_many([{"_id": 1}, {"_id": 2}])  # sparse: missing emails do not collide
    db.i.create_index("code", unique=True, partialFilterExpression={"active": True})
    db.i.insert_many(
        [{"_id": 3, "code": "A", "active": False}, {"_id": 4, "code": "A", "active": True}]
    )
    with pytest.raises(WriteError):
        db.i.insert_one({"_id": 5, "code": "A", "active": True})


def test_documents_over_16_mib_are_refused(db: Database[Any]) -> None:
    with pytest.raises((DocumentTooLarge, OperationFailure)):
        db.big.insert_one({"blob": "x" * (16 * 1024 * 1024 + 1)})
    db.big.insert_one({"_id": ObjectId(), "ok": True})
    assert db.big.count_documents({}) == 1
