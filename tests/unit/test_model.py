"""Models: key names, primary keys, change tracking, documents in and out."""

import datetime
import re
from decimal import Decimal
from typing import Any

import bson.regex
import pytest
from bson import Decimal128, Int64, ObjectId
from pydantic import BaseModel, ValidationError

from odmantic_fastapi import EmbeddedModel, Field, Model
from odmantic_fastapi.bson import Binary
from odmantic_fastapi.bson import Regex as RegexField
from odmantic_fastapi.exceptions import DocumentParsingError
from tests.zoo.library import Address, Book, Publisher


def make_book(**overrides: Any) -> Book:
    values: dict[str, Any] = {"title": "Dune", "year": 1965, "publisher": Publisher(name="Chilton")}
    values.update(overrides)
    return Book(**values)


def test_collection_names_come_from_config_or_class_name() -> None:
    class BlogPostModel(Model):
        title: str

    assert BlogPostModel.__collection__ == "blog_post"
    assert Book.__collection__ == "books"


def test_an_objectid_primary_key_is_added_first_and_stored_as_id() -> None:
    book = make_book()
    assert isinstance(book.id, ObjectId)
    doc = book.model_dump_doc()
    assert next(iter(doc)) == "_id"
    assert doc["_id"] == book.id
    assert doc["n_pages"] == 100
    assert doc["publisher"] == book.publisher.id


def test_custom_primary_field_is_stored_as_id() -> None:
    class Country(Model):
        code: str = Field(primary_field=True)
        name: str

    country = Country(code="FR", name="France")
    assert country.model_dump_doc() == {"_id": "FR", "name": "France"}
    assert Country.model_validate_doc({"_id": "FR", "name": "France"}) == country


def test_primary_key_cannot_be_reassigned() -> None:
    book = make_book()
    with pytest.raises(NotImplementedError):
        book.id = ObjectId()


def test_changes_are_tracked_for_partial_saves() -> None:
    book = make_book()
    assert book.__fields_modified__ == set(Book.__odm_fields__)
    parsed = Book.model_validate_doc(
        {**book.model_dump_doc(), "publisher": book.publisher.model_dump_doc()}
    )
    assert parsed.__fields_modified__ == set()
    parsed.year = 1966
    assert parsed.__fields_modified__ == {"year"}
    assert "tags" in Book.__mutable_fields__


def test_assignment_is_validated() -> None:
    book = make_book()
    with pytest.raises(ValidationError):
        book.pages = 0


def test_model_update_from_a_patch_model_a_dict_or_keywords() -> None:
    class Patch(BaseModel):
        title: str | None = None
        year: int | None = None

    book = Book.model_validate_doc(
        {**make_book().model_dump_doc(), "publisher": Publisher(name="P").model_dump_doc()}
    )
    book.model_update(Patch(year=2000))
    assert (book.year, book.title) == (2000, "Dune")
    book.model_update({"title": "Dune Messiah", "unknown": 1})
    assert book.title == "Dune Messiah"
    book.model_update(pages=300)
    assert book.pages == 300
    assert book.__fields_modified__ == {"year", "title", "pages"}
    with pytest.raises(ValueError, match="no field named 'balance'"):
        book.model_update(balance=10)
    with pytest.raises(ValidationError):
        book.model_update(pages=-1)
    assert book.pages == 300


def test_model_copy_marks_every_field_modified() -> None:
    book = Book.model_validate_doc(
        {**make_book().model_dump_doc(), "publisher": Publisher(name="P").model_dump_doc()}
    )
    copied = book.model_copy(update={"year": 1})
    assert copied.year == 1 and copied.id == book.id
    assert copied.__fields_modified__ == set(Book.__odm_fields__)


def test_documents_missing_keys_raise_document_parsing_error_naming_model_and_fields() -> None:
    with pytest.raises(DocumentParsingError) as info:
        Book.model_validate_doc({"_id": 7, "year": "not a year"})
    message = str(info.value)
    assert "Book" in message and "title" in message and "publisher" in message
    assert info.value.primary_value == 7  # the document to fix, kept out of ODMantic's message


def test_default_factories_fill_missing_keys_only_when_configured() -> None:
    class Event(Model):
        at: datetime.datetime = Field(default_factory=datetime.datetime.now)

    class LenientEvent(Model):
        at: datetime.datetime = Field(default_factory=datetime.datetime.now)
        model_config = {"parse_doc_with_default_factories": True}

    with pytest.raises(DocumentParsingError, match="Key 'at' not found"):
        Event.model_validate_doc({"_id": ObjectId()})
    assert isinstance(LenientEvent.model_validate_doc({"_id": ObjectId()}).at, datetime.datetime)


def test_bson_types_round_trip_through_documents() -> None:
    class Everything(Model):
        long: Int64
        dec: Decimal128
        regex: RegexField
        blob: Binary
        money: Decimal
        ref: ObjectId

    value = Everything(
        long=Int64(2**40),
        dec=Decimal128("1.10"),
        regex=RegexField("^a"),
        blob=Binary(b"\x00"),
        money=Decimal("9.99"),
        ref=ObjectId(),
    )
    doc = value.model_dump_doc()
    assert isinstance(doc["long"], Int64) and isinstance(doc["dec"], Decimal128)
    assert isinstance(doc["money"], Decimal128)
    assert Everything.model_validate_doc(doc) == value
    as_json = value.model_dump(mode="json")
    assert as_json["ref"] == str(value.ref) and as_json["money"] == "9.99"


def test_regular_expressions_are_pattern_strings_in_json_and_its_schema() -> None:
    class Filter(Model):
        stored: RegexField
        compiled: re.Pattern[str]

    value = Filter(stored="^a", compiled="^b")  # type: ignore[arg-type]  # validated from str
    assert isinstance(value.stored, bson.regex.Regex) and isinstance(value.compiled, re.Pattern)
    assert value.model_dump(mode="json") == {"id": str(value.id), "stored": "^a", "compiled": "^b"}
    properties = Filter.model_json_schema()["properties"]
    assert properties["stored"] == {"format": "regex", "title": "Stored", "type": "string"}
    assert properties["compiled"] == {"format": "regex", "title": "Compiled", "type": "string"}


def test_objectid_json_schema_is_a_string() -> None:
    schema = Book.model_json_schema()
    assert schema["properties"]["id"]["type"] == "string"


def test_embedded_models_and_containers_of_them() -> None:
    class Shelf(Model):
        addresses: list[Address] = []
        main: Address

    shelf = Shelf(main=Address(city="A", zip_code="1"), addresses=[Address(city="B", zip_code="2")])
    doc = shelf.model_dump_doc()
    assert doc["main"] == {"city": "A", "zip": "1"}
    assert doc["addresses"] == [{"city": "B", "zip": "2"}]
    assert Shelf.model_validate_doc(doc) == shelf


def test_invalid_definitions_are_refused() -> None:
    with pytest.raises(TypeError, match="Reference"):

        class Broken(Model):
            publisher: Publisher

    with pytest.raises(TypeError, match="primary field"):

        class Embedded(EmbeddedModel):
            key: str = Field(primary_field=True)

    with pytest.raises(TypeError, match="key_name cannot start with the dollar sign"):

        class BadKey(Model):
            value: int = Field(key_name="$bad")


def test_declared_indexes() -> None:
    specs = [
        index.get_pymongo_index().document
        if hasattr(index, "get_pymongo_index")
        else index.document
        for index in Book.__indexes__()
    ]
    assert {"key": {"year": 1}, "name": "year_1", "unique": False} in [
        {k: v for k, v in spec.items() if k in ("key", "name", "unique")} for spec in specs
    ]
    assert any(spec["name"] == "title_year" for spec in specs)
