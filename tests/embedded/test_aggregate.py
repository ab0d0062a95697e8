"""Aggregation pipelines over the wire: stages, $facet, $replaceRoot and $lookup with let."""

from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure


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


def test_text_search_in_the_first_match_uses_the_text_index(db: Database[Any]) -> None:
    db.notes.insert_many([{"_id": 1, "t": "hello world"}, {"_id": 2, "t": "goodbye"}])
    db.notes.create_index([("t", "text")])
    found = db.notes.aggregate(
        [{"$match": {"$text": {"$search": "hello"}}}, {"$project": {"_id": 1}}]
    )
    assert list(found) == [{"_id": 1}]


def test_text_search_without_a_text_index_is_index_not_found(db: Database[Any]) -> None:
    db.notes.insert_one({"t": "hello"})
    with pytest.raises(OperationFailure) as caught:
        db.notes.aggregate([{"$match": {"$text": {"$search": "hello"}}}])
    assert caught.value.code == 27


def test_a_nested_project_reads_field_paths_from_the_whole_document(db: Database[Any]) -> None:
    db.nested.insert_many(
        [
            {"_id": 1, "ns": {"db": "d", "coll": "c"}, "top": "t"},
            {"_id": 2, "top": "t"},
            {"_id": 3, "ns": [{"db": "x"}, 5], "top": "t"},
            {"_id": 4, "ns": 5, "top": "t"},
        ]
    )
    pipeline: list[dict[str, Any]] = [
        {"$project": {"ns": {"db": "$ns.db", "label": "fixed", "top": "$top"}}},
        {"$sort": {"_id": 1}},
    ]
    assert list(db.nested.aggregate(pipeline)) == [
        # "$ns.db" and "$top" start at the document, not at the subdocument ns.
        {"_id": 1, "ns": {"db": "d", "label": "fixed", "top": "t"}},
        # A missing subdocument still gets the computed fields.
        {"_id": 2, "ns": {"label": "fixed", "top": "t"}},
        # An array is projected element by element; a scalar element, like a scalar
        # field, becomes the computed fields.
        {
            "_id": 3,
            "ns": [
                {"db": ["x"], "label": "fixed", "top": "t"},
                {"db": ["x"], "label": "fixed", "top": "t"},
            ],
        },
        {"_id": 4, "ns": {"label": "fixed", "top": "t"}},
    ]
    inclusion: list[dict[str, Any]] = [{"$project": {"ns": {"db": 1}}}, {"$sort": {"_id": 1}}]
    assert list(db.nested.aggregate(inclusion)) == [
        {"_id": 1, "ns": {"db": "d"}},
        {"_id": 2},
        # With inclusions only, scalars are dropped.
        {"_id": 3, "ns": [{"db": "x"}]},
        {"_id": 4},
    ]
