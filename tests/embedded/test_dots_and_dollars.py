"""Field names with dots and leading dollars, as MongoDB 5.0 and later store them."""

from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure, WriteError


def test_insert_keeps_a_top_level_dollar_prefixed_field(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1, "$price": 3})
    assert db.things.find_one({"_id": 1}) == {"_id": 1, "$price": 3}


def test_insert_keeps_dotted_and_dollar_prefixed_names_in_embedded_documents(
    db: Database[Any],
) -> None:
    db.things.insert_one({"_id": 1, "a.b": 1, "sub": {"$c": 2, "d.e": 3}})
    assert db.things.find_one() == {"_id": 1, "a.b": 1, "sub": {"$c": 2, "d.e": 3}}


def test_an_id_holding_a_dollar_prefixed_field_is_refused(db: Database[Any]) -> None:
    with pytest.raises(WriteError) as caught:
        db.things.insert_one({"_id": {"$a": 1}})
    assert caught.value.code == 52
    assert db.things.count_documents({}) == 0


def test_an_id_holding_a_dotted_field_is_stored(db: Database[Any]) -> None:
    db.things.insert_one({"_id": {"a.b": 1}})
    assert db.things.find_one() == {"_id": {"a.b": 1}}


def test_set_field_in_an_update_pipeline_sets_a_top_level_dollar_prefixed_field(
    db: Database[Any],
) -> None:
    db.things.insert_one({"_id": 1, "foo": {}})
    set_dollar = {"$setField": {"field": {"$literal": "$a"}, "value": 1, "input": "$$ROOT"}}
    result = db.things.update_one({"_id": 1}, [{"$replaceWith": set_dollar}])
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert db.things.find_one() == {"_id": 1, "foo": {}, "$a": 1}


def test_set_field_sets_a_dotted_name_inside_an_embedded_document(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1, "foo": {"x": 0}})
    set_dotted = {"$setField": {"field": "a.b", "value": 1, "input": "$foo"}}
    db.things.update_many({}, [{"$set": {"foo": set_dotted}}])
    assert db.things.find_one() == {"_id": 1, "foo": {"x": 0, "a.b": 1}}


def test_set_field_replaces_an_existing_field_in_place(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1, "a": 1, "b": 2})
    doc = db.things.find_one_and_update(
        {"_id": 1},
        [{"$replaceWith": {"$setField": {"field": "a", "value": 5, "input": "$$ROOT"}}}],
        return_document=True,
    )
    assert list(doc.items()) == [("_id", 1), ("a", 5), ("b", 2)]


def test_get_field_and_unset_field_read_and_drop_names_a_path_cannot(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1, "a.b": 1, "$c": 2, "keep": 3})
    [doc] = db.things.aggregate(
        [
            {
                "$project": {
                    "dotted": {"$getField": "a.b"},
                    "dollar": {"$getField": {"field": {"$literal": "$c"}, "input": "$$ROOT"}},
                    "rest": {"$unsetField": {"field": "a.b", "input": "$$ROOT"}},
                }
            }
        ]
    )
    assert doc == {"_id": 1, "dotted": 1, "dollar": 2, "rest": {"_id": 1, "$c": 2, "keep": 3}}


def test_set_field_with_remove_as_value_drops_the_field(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1, "a.b": 1, "c": 2})
    gone = {"$setField": {"field": "a.b", "value": "$$REMOVE", "input": "$$ROOT"}}
    db.things.update_one({"_id": 1}, [{"$replaceWith": gone}])
    assert db.things.find_one() == {"_id": 1, "c": 2}


def test_a_field_name_starting_with_dollar_must_come_in_literal(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1})
    with pytest.raises(OperationFailure):
        db.things.aggregate(
            [{"$project": {"x": {"$setField": {"field": "$a", "value": 1, "input": "$$ROOT"}}}}]
        )
