"""Requests MongoDB 7.0 refuses are refused here too, with the errors drivers recognise."""

from typing import Any

import pytest
from pymongo import ReplaceOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel


def test_update_with_sort_is_refused_and_changes_nothing(db: Database[Any]) -> None:
    db.things.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 1}])
    with pytest.raises(OperationFailure) as refused:
        db.command(
            "update", "things", updates=[{"q": {}, "u": {"$set": {"y": 1}}, "sort": {"_id": -1}}]
        )
    assert refused.value.code == 40415
    assert db.things.count_documents({"y": 1}) == 0


def test_bulk_replace_with_sort_is_refused(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1})
    with pytest.raises(OperationFailure):
        db.things.bulk_write([ReplaceOne({}, {"x": 2}, sort={"_id": 1})])
    with pytest.raises(OperationFailure):
        db.things.bulk_write([UpdateOne({}, {"$set": {"x": 2}}, sort={"_id": 1})])
    assert db.things.find_one({"_id": 1}) == {"_id": 1}


def test_search_index_commands_answer_that_they_need_atlas(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1})
    attempts = [
        lambda: db.things.create_search_index(SearchIndexModel({"mappings": {"dynamic": True}})),
        lambda: db.things.update_search_index("default", {"mappings": {"dynamic": True}}),
        lambda: db.things.drop_search_index("default"),
        lambda: list(db.things.list_search_indexes()),
    ]
    for attempt in attempts:
        with pytest.raises(OperationFailure) as refused:
            attempt()
        assert "Atlas" in str(refused.value)
