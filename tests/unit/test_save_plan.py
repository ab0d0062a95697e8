"""The save plan: what save_all writes for many instances, planned without a server."""

import gc

import pytest
from pymongo import InsertOne, UpdateOne

from odmantic_fastapi import Model, ObjectId
from odmantic_fastapi._save_plan import plan_saves


class Book(Model):
    title: str
    year: int


def test_a_large_plan_leaves_an_enabled_collector_enabled(collector_enabled: None) -> None:
    plan_saves([Book(title=str(i), year=i) for i in range(1000)])
    assert gc.isenabled()


def test_a_large_plan_leaves_a_disabled_collector_disabled(collector_enabled: None) -> None:
    gc.disable()
    plan_saves([Book(title=str(i), year=i) for i in range(1000)])
    assert not gc.isenabled()


def test_a_failing_plan_leaves_the_collector_enabled(collector_enabled: None) -> None:
    with pytest.raises(TypeError):
        plan_saves([*(Book(title=str(i), year=i) for i in range(1000)), "not a model"])  # type: ignore[list-item]  # the error under test
    assert gc.isenabled()


def test_new_models_with_given_ids_are_inserted_unless_the_id_is_taken() -> None:
    ids = [ObjectId() for _ in range(300)]
    (batch,) = plan_saves([Book(id=id_, title="t", year=1) for id_ in ids])
    assert batch.operations == [InsertOne({"title": "t", "year": 1, "_id": id_}) for id_ in ids]
    # Where the id is taken, or in a transaction, the upserts by id go instead,
    # without setting the id again.
    assert batch.as_upserts(298).operations == [
        UpdateOne({"_id": id_}, {"$set": {"title": "t", "year": 1}}, upsert=True)
        for id_ in ids[298:]
    ]


def test_a_model_with_only_an_id_is_upserted_with_a_field_to_set() -> None:
    class Tag(Model):
        pass

    tags = [Tag(id=ObjectId()) for _ in range(2)]
    (batch,) = plan_saves(tags)
    assert batch.as_upserts().operations == [
        UpdateOne({"_id": tag.id}, {"$set": {"_id": tag.id}}, upsert=True) for tag in tags
    ]


def test_new_models_with_automatic_ids_are_inserted() -> None:
    books = [Book(title="t", year=1) for _ in range(3)]
    (batch,) = plan_saves(books)
    assert batch.operations == [
        InsertOne({"_id": book.id, "title": "t", "year": 1}) for book in books
    ]
