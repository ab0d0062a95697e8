"""A command's ``let`` variables, read as ``$$name`` by filters ($expr) and pipelines."""

from typing import Any

import pytest
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import OperationFailure

_LET = {"wanted": 2, "label": {"$concat": ["to", "-", "do"]}}
_IS_WANTED = {"$expr": {"$eq": ["$_id", "$$wanted"]}}


@pytest.fixture
def things(db: Database[Any]) -> Any:
    db.things.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 2}, {"_id": 3, "x": 3}])
    return db.things


def test_find_filter_reads_let_variables(things: Any) -> None:
    assert list(things.find(_IS_WANTED, let=_LET)) == [{"_id": 2, "x": 2}]


def test_aggregate_match_and_stages_read_let_variables(things: Any) -> None:
    pipeline = [{"$match": _IS_WANTED}, {"$project": {"_id": 0, "label": "$$label"}}]
    assert list(things.aggregate(pipeline, let=_LET)) == [{"label": "to-do"}]


def test_update_filter_and_pipeline_read_let_variables(things: Any) -> None:
    result = things.update_many(_IS_WANTED, [{"$set": {"label": "$$label"}}], let=_LET)
    assert result.modified_count == 1
    assert things.find_one({"_id": 2}) == {"_id": 2, "x": 2, "label": "to-do"}


def test_upsert_pipeline_reads_let_variables(things: Any) -> None:
    things.update_one({"_id": 9}, [{"$set": {"label": "$$label"}}], upsert=True, let=_LET)
    assert things.find_one({"_id": 9}) == {"_id": 9, "label": "to-do"}


def test_delete_filter_reads_let_variables(things: Any) -> None:
    assert things.delete_many(_IS_WANTED, let=_LET).deleted_count == 1
    assert [d["_id"] for d in things.find()] == [1, 3]


def test_find_one_and_update_reads_let_variables(things: Any) -> None:
    found = things.find_one_and_update(
        _IS_WANTED,
        [{"$set": {"x": {"$multiply": ["$x", "$$wanted"]}}}],
        let=_LET,
        return_document=ReturnDocument.AFTER,
    )
    assert found == {"_id": 2, "x": 4}
    assert things.find_one_and_delete(_IS_WANTED, let=_LET) == {"_id": 2, "x": 4}


def test_an_undefined_variable_is_still_an_error(things: Any) -> None:
    with pytest.raises(OperationFailure) as refused:
        list(things.find({"$expr": {"$eq": ["$_id", "$$nobody"]}}, let=_LET))
    assert refused.value.code == 17276


def test_let_variable_names_must_start_with_a_lowercase_letter(things: Any) -> None:
    with pytest.raises(OperationFailure) as refused:
        list(things.find({}, let={"Upper": 1}))
    assert refused.value.code == 16870
