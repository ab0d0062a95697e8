"""$out and $merge write an aggregation's results to a collection; collectionless pipelines read $documents and sessions."""

from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from odmantic_fastapi.embedded import ServerProcess


@pytest.fixture
def scores(db: Database[Any]) -> Any:
    db.scores.insert_many([{"_id": i, "x": i * 11} for i in range(1, 4)])
    return db.scores


def test_out_replaces_the_target_with_the_results_and_returns_no_documents(
    db: Database[Any], scores: Any
) -> None:
    db.report.insert_many([{"_id": 9, "stale": True}, {"_id": 2, "stale": True}])
    db.report.create_index("x")
    results = list(scores.aggregate([{"$match": {"_id": {"$gt": 1}}}, {"$out": "report"}]))
    assert results == []
    assert list(db.report.find().sort("_id")) == [{"_id": 2, "x": 22}, {"_id": 3, "x": 33}]
    assert "x_1" in db.report.index_information()


def test_out_creates_the_target_and_gives_results_without_id_one(
    db: Database[Any], scores: Any
) -> None:
    scores.aggregate([{"$project": {"_id": 0, "x": 1}}, {"$out": {"db": db.name, "coll": "r"}}])
    assert sorted(d["x"] for d in db.r.find()) == [11, 22, 33]
    assert all("_id" in d for d in db.r.find())


def test_out_with_duplicate_ids_fails_before_touching_the_target(
    db: Database[Any], scores: Any
) -> None:
    db.report.insert_one({"_id": 1, "kept": True})
    with pytest.raises(OperationFailure) as caught:
        scores.aggregate([{"$project": {"_id": {"$literal": 7}}}, {"$out": "report"}])
    assert caught.value.code == 11000
    assert list(db.report.find()) == [{"_id": 1, "kept": True}]


def test_an_output_stage_must_be_the_last_stage(scores: Any) -> None:
    with pytest.raises(OperationFailure) as caught:
        scores.aggregate([{"$out": "report"}, {"$match": {}}])
    assert caught.value.code == 40601


def test_an_output_stage_is_refused_in_a_transaction(db: Database[Any], scores: Any) -> None:
    with db.client.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as caught:
            scores.aggregate([{"$out": "report"}], session=session)
        session.abort_transaction()
    assert caught.value.code == 263


def test_merge_by_default_merges_matches_and_inserts_the_rest(
    db: Database[Any], scores: Any
) -> None:
    db.report.insert_many([{"_id": 2, "x": 0, "note": "old"}, {"_id": 8}])
    scores.aggregate([{"$merge": {"into": "report"}}])
    assert list(db.report.find().sort("_id")) == [
        {"_id": 1, "x": 11},
        {"_id": 2, "x": 22, "note": "old"},
        {"_id": 3, "x": 33},
        {"_id": 8},
    ]


@pytest.mark.parametrize(
    ("when_matched", "expected"),
    [
        ("replace", {"_id": 2, "x": 22}),
        ("keepExisting", {"_id": 2, "x": 0, "note": "old"}),
        (
            [{"$set": {"total": {"$add": ["$x", "$$new.x"]}}}],
            {"_id": 2, "x": 0, "note": "old", "total": 22},
        ),
    ],
)
def test_merge_when_matched(
    db: Database[Any], scores: Any, when_matched: Any, expected: dict[str, Any]
) -> None:
    db.report.insert_one({"_id": 2, "x": 0, "note": "old"})
    scores.aggregate(
        [{"$match": {"_id": 2}}, {"$merge": {"into": "report", "whenMatched": when_matched}}]
    )
    assert db.report.find_one({"_id": 2}) == expected


def test_merge_when_matched_fail_is_a_duplicate_key_error_naming_the_key(
    db: Database[Any], scores: Any
) -> None:
    db.report.insert_one({"_id": 2})
    with pytest.raises(OperationFailure) as caught:
        db.aggregate(
            [
                {"$documents": [{"_id": 2, "x": 1}]},
                {"$merge": {"into": "report", "whenMatched": "fail"}},
            ]
        )
    assert caught.value.code == 11000
    assert caught.value.details is not None
    assert caught.value.details["keyPattern"] == {"_id": 1}
    assert caught.value.details["keyValue"] == {"_id": 2}


def test_merge_when_not_matched_discard_and_fail(db: Database[Any], scores: Any) -> None:
    db.report.insert_one({"_id": 1})
    scores.aggregate([{"$merge": {"into": "report", "whenNotMatched": "discard"}}])
    assert list(db.report.find()) == [{"_id": 1, "x": 11}]
    with pytest.raises(OperationFailure) as caught:
        scores.aggregate([{"$merge": {"into": "report", "whenNotMatched": "fail"}}])
    assert caught.value.code == 13113


def test_merge_on_other_fields_needs_a_unique_index_on_them(db: Database[Any], scores: Any) -> None:
    with pytest.raises(OperationFailure) as caught:
        scores.aggregate([{"$project": {"x": 1, "_id": 0}}, {"$merge": {"into": "r", "on": "x"}}])
    assert caught.value.code == 51183
    db.r.create_index("x", unique=True)
    db.r.insert_one({"x": 22, "seen": True})
    scores.aggregate([{"$project": {"x": 1, "_id": 0}}, {"$merge": {"into": "r", "on": "x"}}])
    assert db.r.count_documents({}) == 3
    assert db.r.find_one({"x": 22}, {"_id": 0}) == {"x": 22, "seen": True}


def test_a_collectionless_pipeline_reads_documents(db: Database[Any]) -> None:
    docs = list(db.aggregate([{"$documents": [{"a": 1}, {"a": 2}]}, {"$match": {"a": 2}}]))
    assert docs == [{"a": 2}]


def test_list_local_sessions_shows_the_callers_session(db: Database[Any]) -> None:
    with db.client.start_session() as session:
        found = list(
            db.aggregate(
                [{"$listLocalSessions": {}}, {"$match": {"_id.id": session.session_id["id"]}}],
                session=session,
            )
        )
    assert len(found) == 1
    assert set(found[0]) == {"_id", "lastUse"}


def test_current_op_runs_on_admin_only(db: Database[Any]) -> None:
    [op] = db.client.admin.aggregate([{"$currentOp": {}}])
    assert op["ns"] == "admin.$cmd.aggregate"
    with pytest.raises(OperationFailure) as caught:
        db.aggregate([{"$currentOp": {}}])
    assert caught.value.code == 73


def test_a_collectionless_pipeline_needs_a_source_stage(db: Database[Any]) -> None:
    with pytest.raises(OperationFailure) as caught:
        db.aggregate([{"$match": {}}])
    assert caught.value.code == 73


def test_out_results_survive_a_restart(tmp_path: Path) -> None:
    with ServerProcess(data_dir=tmp_path) as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        client.app.src.insert_many([{"_id": i} for i in range(5)])
        client.app.src.aggregate([{"$match": {"_id": {"$lt": 3}}}, {"$out": "dst"}])
        client.close()
    with ServerProcess(data_dir=tmp_path) as server:
        client = MongoClient(server.url)
        assert sorted(d["_id"] for d in client.app.dst.find()) == [0, 1, 2]
        client.close()
