"""What a save writes for one instance: its key in the filter, the rest of its document in $set."""

from decimal import Decimal
from typing import Annotated, Any

import bson
from pydantic import PlainSerializer, field_serializer
from pymongo import UpdateOne

from odmantic_fastapi import Field, Model, ObjectId
from odmantic_fastapi._save_plan import plan_saves


def written(instance: Model) -> tuple[Any, dict[str, Any]]:
    """The _id of the filter, and the $set, of the upsert saving ``instance``.

    A new instance is inserted first (the upsert follows where its id is
    taken): the insert then holds the same key and fields.
    """
    (batch,) = plan_saves([instance])
    (write,) = batch.writes
    insert = write.insert
    (operation,) = batch.as_upserts().operations
    assert isinstance(operation, UpdateOne)
    update: Any = operation._doc
    assert list(operation._filter) == ["_id"] and list(update) == ["$set"]
    key, fields = operation._filter["_id"], update["$set"]
    if insert is not None:
        assert insert == {**fields, "_id": key} and insert["_id"] is key
    return key, fields


def stored(instance: Model) -> tuple[Any, dict[str, Any]]:
    """The filter's _id and the $set, as model_dump_doc gives the document."""
    doc = instance.model_dump_doc()
    return doc.pop("_id"), doc


class Book(Model):
    title: str
    year: int


def test_an_object_id_key_goes_to_the_filter_as_the_instance_holds_it() -> None:
    book = Book(id=ObjectId(), title="Dune", year=1965)
    key, fields = written(book)
    assert key is book.id
    assert fields == {"title": "Dune", "year": 1965}
    assert (key, fields) == stored(book)


def test_a_loaded_instance_sets_its_mutable_and_changed_fields_only() -> None:
    book = Book.model_validate_doc({"_id": bson.ObjectId(), "title": "Dune", "year": 1965})
    book.year = 1966
    assert written(book) == (book.id, {"year": 1966})


def test_an_instance_whose_only_change_is_its_key_sets_the_key() -> None:
    book = Book.model_validate_doc({"_id": bson.ObjectId(), "title": "Dune", "year": 1965})
    book._modified().add("id")
    assert written(book) == (book.id, {"_id": book.id})


class Isbn(Model):
    isbn: str = Field(primary_field=True)
    title: str


def test_a_key_of_another_type_is_dumped() -> None:
    book = Isbn(isbn="978-0441013593", title="Dune")
    assert written(book) == ("978-0441013593", {"title": "Dune"})


class Labelled(Model):
    id: Annotated[ObjectId, PlainSerializer(lambda v: f"book-{v}")] = Field(
        primary_field=True, default_factory=ObjectId
    )
    title: str


class Serialized(Model):
    title: str

    @field_serializer("id")
    def _id_as_text(self, value: bson.ObjectId) -> str:
        return str(value)


def test_an_object_id_key_whose_dump_is_changed_is_dumped() -> None:
    for book in (Labelled(id=ObjectId(), title="Dune"), Serialized(id=ObjectId(), title="Dune")):
        key, fields = written(book)
        assert isinstance(key, str)
        assert (key, fields) == stored(book) == (stored(book)[0], {"title": "Dune"})


class Item(Model):
    model_config = {"extra": "allow"}

    name: str


class Vehicle(Model):
    wheels: int
    model_config = {"collection": "vehicles", "discriminator_key": "kind"}


class Car(Vehicle):
    doors: int


def test_extra_fields_and_a_hierarchy_mark_are_set_as_their_dump_gives_them() -> None:
    item = Item.model_validate({"id": ObjectId(), "name": "pen", "price": Decimal("1.5")})
    assert written(item) == stored(item)
    assert written(item)[1]["price"] == bson.Decimal128("1.5")
    car = Car(id=ObjectId(), wheels=4, doors=5)
    assert written(car) == stored(car)
    assert written(car)[1] == {"wheels": 4, "doors": 5, "kind": "Car"}
