"""A collection's validator: checked on every insert and update, by level and action."""

from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure, WriteError

POSITIVE = {"x": {"$gt": 0}}


@pytest.fixture
def checked(db: Database[Any]) -> Any:
    db.create_collection("checked", validator=POSITIVE)
    db.checked.insert_one({"_id": 1, "x": 1})
    return db.checked


def test_an_insert_that_fails_the_validator_is_a_121_write_error(checked: Any) -> None:
    with pytest.raises(WriteError) as caught:
        checked.insert_one({"_id": 2, "x": -1})
    assert caught.value.code == 121
    assert caught.value.details is not None
    assert caught.value.details["errInfo"]["failingDocumentId"] == 2
    assert checked.count_documents({}) == 1


def test_an_update_that_fails_the_validator_is_refused(checked: Any) -> None:
    with pytest.raises(WriteError) as caught:
        checked.update_one({"_id": 1}, {"$set": {"x": -5}})
    assert caught.value.code == 121
    assert checked.find_one() == {"_id": 1, "x": 1}


def test_bypass_document_validation_skips_the_check(checked: Any) -> None:
    checked.insert_one({"_id": 2, "x": -1}, bypass_document_validation=True)
    assert checked.count_documents({}) == 2


def test_moderate_lets_updates_of_already_invalid_documents_through(
    db: Database[Any], checked: Any
) -> None:
    checked.insert_one({"_id": 2, "x": -1}, bypass_document_validation=True)
    db.command({"collMod": "checked", "validationLevel": "moderate"})
    checked.update_one({"_id": 2}, {"$set": {"note": "kept"}})
    with pytest.raises(WriteError):
        checked.update_one({"_id": 1}, {"$set": {"x": -1}})


def test_warn_stores_the_document(db: Database[Any], checked: Any) -> None:
    db.command({"collMod": "checked", "validationAction": "warn"})
    checked.insert_one({"_id": 2, "x": -1})
    assert checked.count_documents({}) == 2


def test_off_checks_nothing(db: Database[Any], checked: Any) -> None:
    db.command({"collMod": "checked", "validationLevel": "off"})
    checked.insert_one({"_id": 2, "x": -1})
    assert checked.count_documents({}) == 2


def test_coll_mod_adds_a_validator_that_list_collections_shows(db: Database[Any]) -> None:
    db.plain.insert_one({"x": 1})
    db.command({"collMod": "plain", "validator": {"x": {"$type": "int"}}})
    assert db.plain.options() == {"validator": {"x": {"$type": "int"}}}
    with pytest.raises(WriteError):
        db.plain.insert_one({"x": "one"})


def test_an_output_stage_is_validated_too(db: Database[Any], checked: Any) -> None:
    db.source.insert_one({"_id": 5, "x": -3})
    with pytest.raises(OperationFailure) as caught:
        db.source.aggregate([{"$merge": {"into": "checked"}}])
    assert caught.value.code == 121


@pytest.mark.parametrize(
    "options",
    [
        {"validator": {"$jsonSchema": {"required": ["x"]}}},
        {"validator": POSITIVE, "validationLevel": "sometimes"},
        {"validator": POSITIVE, "validationAction": "shout"},
    ],
)
def test_unsupported_or_bad_validation_options_are_refused(
    db: Database[Any], options: dict[str, Any]
) -> None:
    with pytest.raises(OperationFailure):
        db.create_collection("bad", **options)
    assert "bad" not in db.list_collection_names()
