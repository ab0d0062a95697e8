"""An update pipeline whose result leaves out _id keeps the document's _id, as MongoDB does."""

from typing import Any

from pymongo.database import Database


def test_replace_root_pipeline_keeps_the_stored_id(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1, "inner": {"a": 1, "b": 2}})
    result = db.things.update_one({"_id": 1}, [{"$replaceRoot": {"newRoot": "$inner"}}])
    assert result.modified_count == 1
    assert db.things.find_one({"_id": 1}) == {"_id": 1, "a": 1, "b": 2}


def test_project_pipeline_without_id_keeps_the_stored_id(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1, "a": 1, "b": 2})
    db.things.update_one({"_id": 1}, [{"$project": {"_id": 0, "a": 1}}])
    assert db.things.find_one({"_id": 1}) == {"_id": 1, "a": 1}
