"""Views: reads see the source through the view's pipeline; writes and indexes are refused."""

from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from odmantic_fastapi.embedded import ServerProcess

ABOVE_ONE = [{"$match": {"x": {"$gte": 2}}}, {"$project": {"y": "$x"}}]


@pytest.fixture
def view(db: Database[Any]) -> Any:
    db.source.insert_many([{"_id": i, "x": i} for i in range(5)])
    db.create_collection("above", viewOn="source", pipeline=ABOVE_ONE)
    return db.above


def test_find_reads_the_source_through_the_pipeline(view: Any) -> None:
    assert list(view.find({}, sort=[("y", -1)], limit=2)) == [
        {"_id": 4, "y": 4},
        {"_id": 3, "y": 3},
    ]


def test_counts_and_distinct_count_what_the_view_holds(view: Any) -> None:
    assert view.estimated_document_count() == 3
    assert view.count_documents({"y": {"$gt": 2}}) == 2
    assert sorted(view.distinct("y")) == [2, 3, 4]


def test_a_view_sees_later_writes_to_its_source(db: Database[Any], view: Any) -> None:
    db.source.insert_one({"_id": 9, "x": 9})
    assert view.count_documents({}) == 4


def test_a_view_on_a_view_runs_both_pipelines(db: Database[Any], view: Any) -> None:
    db.create_collection("middle", viewOn="above", pipeline=[{"$match": {"y": {"$lt": 4}}}])
    assert [d["y"] for d in db.middle.find()] == [2, 3]


def test_aggregate_runs_on_the_view_output(view: Any) -> None:
    assert list(view.aggregate([{"$group": {"_id": None, "s": {"$sum": "$y"}}}])) == [
        {"_id": None, "s": 9}
    ]


def test_list_collections_shows_a_view_with_its_definition(db: Database[Any], view: Any) -> None:
    [info] = db.list_collections(filter={"name": "above"})
    assert info["type"] == "view"
    assert info["options"] == {"viewOn": "source", "pipeline": ABOVE_ONE}


@pytest.mark.parametrize(
    "operation",
    [
        lambda v: v.insert_one({"x": 1}),
        lambda v: v.update_one({}, {"$set": {"x": 1}}),
        lambda v: v.delete_many({}),
        lambda v: v.find_one_and_delete({}),
        lambda v: v.create_index("y"),
        lambda v: list(v.list_indexes()),
    ],
)
def test_writes_and_index_commands_on_a_view_are_refused(view: Any, operation: Any) -> None:
    with pytest.raises(OperationFailure) as caught:
        operation(view)
    assert caught.value.code == 166


def test_a_view_cannot_end_in_an_output_stage(db: Database[Any]) -> None:
    with pytest.raises(OperationFailure):
        db.create_collection("bad", viewOn="source", pipeline=[{"$out": "elsewhere"}])


def test_dropping_a_view_leaves_its_source(db: Database[Any], view: Any) -> None:
    db.drop_collection("above")
    assert db.list_collection_names() == ["source"]


def test_a_view_survives_a_restart(tmp_path: Path) -> None:
    with ServerProcess(data_dir=tmp_path) as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        client.app.source.insert_many([{"_id": i, "x": i} for i in range(5)])
        client.app.create_collection("above", viewOn="source", pipeline=ABOVE_ONE)
        client.close()
    with ServerProcess(data_dir=tmp_path) as server:
        client = MongoClient(server.url)
        assert client.app.above.count_documents({}) == 3
        client.close()


@pytest.mark.parametrize("stage", [{"$out": "above"}, {"$merge": {"into": "above"}}])
def test_an_output_stage_cannot_write_into_a_view(
    db: Database[Any], view: Any, stage: dict[str, Any]
) -> None:
    with pytest.raises(OperationFailure) as caught:
        db.source.aggregate([stage])
    assert caught.value.code == 166
