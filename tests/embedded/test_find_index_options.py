"""find's index options: hint, min and max bounds, returnKey and showRecordId."""

from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure

from ._wire import raw_command


@pytest.fixture
def scores(db: Database[Any]) -> Any:
    db.scores.insert_many([{"_id": i, "x": i * 11} for i in range(1, 6)])
    return db.scores


def test_min_and_max_bound_the_hinted_index_from_below_inclusive_and_above_exclusive(
    scores: Any,
) -> None:
    found = scores.find({}, hint=[("_id", 1)], min={"_id": 2}, max={"_id": 4})
    assert [d["_id"] for d in found] == [2, 3]


def test_bounds_on_a_descending_index_run_from_high_to_low(scores: Any) -> None:
    scores.create_index([("x", -1)])
    found = scores.find({}, hint="x_-1", min={"x": 44}, max={"x": 11})
    assert sorted(d["x"] for d in found) == [22, 33, 44]


def test_bounds_combine_with_filter_sort_skip_and_projection(scores: Any) -> None:
    found = scores.find(
        {"_id": {"$gt": 1}},
        {"_id": 0, "x": 1},
        sort=[("x", -1)],
        skip=2,
        hint=[("_id", 1)],
        min={"_id": 0},
        max={"_id": 6},
    )
    assert list(found) == [{"x": 33}, {"x": 22}]


def test_bounds_need_a_hint(db: Database[Any], scores: Any, mongodb_url: str) -> None:
    reply = raw_command(mongodb_url, {"find": "scores", "min": {"_id": 1}, "$db": db.name})
    assert reply["code"] == 51173


def test_bounds_must_name_the_hinted_index_fields(scores: Any) -> None:
    with pytest.raises(OperationFailure) as caught:
        list(scores.find({}, hint="_id_", min={"x": 1}))
    assert caught.value.code == 51174


def test_a_hint_naming_no_index_is_refused(scores: Any) -> None:
    with pytest.raises(OperationFailure) as caught:
        list(scores.find({}).hint("nope"))
    assert caught.value.code == 2


def test_return_key_gives_the_key_of_the_index_read(scores: Any) -> None:
    scores.create_index("x")
    assert list(scores.find({}, sort=[("_id", 1)], return_key=True))[:2] == [
        {"_id": 1},
        {"_id": 2},
    ]
    assert list(scores.find({"x": 22}, return_key=True)) == [{"x": 22}]


def test_return_key_without_an_index_gives_empty_documents(scores: Any) -> None:
    assert list(scores.find({"x": {"$type": "int"}}, return_key=True).limit(2)) == [{}, {}]


def test_show_record_id_numbers_documents_in_insertion_order(scores: Any) -> None:
    found = list(scores.find({"x": {"$gt": 30}}, show_record_id=True))
    assert [(d["_id"], d["$recordId"]) for d in found] == [(3, 3), (4, 4), (5, 5)]


def test_return_key_leaves_out_the_record_id(scores: Any) -> None:
    found = scores.find({}, sort=[("_id", 1)], return_key=True, show_record_id=True).limit(1)
    assert list(found) == [{"_id": 1}]
