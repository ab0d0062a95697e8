"""Sort order across BSON types and arrays, and find projections, over the wire."""

from typing import Any

import pytest
from pymongo.errors import OperationFailure


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


def test_a_large_result_is_projected_like_a_small_one(db: Any) -> None:
    """Past 4,096 documents the projection runs in a worker thread; the result must not change."""
    db.big.insert_many([{"_id": i, "k": -i, "tags": [i, i + 1], "drop": "x"} for i in range(5000)])
    found = list(db.big.find({}, {"k": 1, "tags": {"$slice": 1}}).sort("k", 1))
    assert len(found) == 5000
    assert found[0] == {"_id": 4999, "k": -4999, "tags": [4999]}
    assert found[-1] == {"_id": 0, "k": 0, "tags": [0]}
    matched = list(db.big.find({"tags": {"$gte": 0}}, {"tags.$": 1}).sort("_id", 1))
    assert matched[10] == {"_id": 10, "tags": [10]}
