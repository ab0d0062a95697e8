"""DocumentParsingError: ODMantic's message, locations and error count for bad documents."""

import pytest
from bson import ObjectId

from odmantic_fastapi import EmbeddedModel, Field, Model
from odmantic_fastapi.exceptions import DocumentParsingError


class Leaf(EmbeddedModel):
    e: int


class Holder(Model):
    items: list[Leaf] = []
    named: dict[str, Leaf] = {}


def _message(model: type[Model], doc: dict[str, object]) -> str:
    with pytest.raises(DocumentParsingError) as info:
        model.model_validate_doc(doc)
    return str(info.value)


def test_missing_key_is_reported_by_key_name_without_the_id() -> None:
    class Renamed(Model):
        field: str = Field(key_name="custom")

    oid = ObjectId()
    assert _message(Renamed, {"_id": oid}) == (
        "1 validation error for Renamed\nfield\n"
        "  Key 'custom' not found in document [type=odmantic::key_not_found_in_document, "
        f"input_value={{'_id': {oid!r}}}, input_type=dict]"
    )


def test_missing_key_in_a_nested_embedded_model() -> None:
    class Inner(EmbeddedModel):
        a: int

    class Middle(EmbeddedModel):
        f: Inner

    class Outer(Model):
        e: Middle

    message = _message(Outer, {"_id": ObjectId(), "e": {"f": {}}})
    assert message.startswith("1 validation error for Outer\ne.f.a\n  Key 'a' not found")


def test_container_items_are_located_by_index_and_key() -> None:
    listed = _message(Holder, {"_id": ObjectId(), "items": [{"nope": 1}]})
    assert "\nitems.[0].e\n  Key 'e' not found in document" in listed
    keyed = _message(Holder, {"_id": ObjectId(), "named": {"k": {"nope": 1}}})
    assert "\nnamed.[\"k\"].e\n  Key 'e' not found in document" in keyed


def test_container_of_the_wrong_shape_is_one_error() -> None:
    message = _message(Holder, {"_id": 1, "items": {"a": {"e": 1}}})
    assert message.startswith("1 validation error for Holder\nitems\n")
    assert "Incorrect generic embedded model value" in message


def test_invalid_values_are_reported_by_pydantic_once_no_key_is_missing() -> None:
    with pytest.raises(DocumentParsingError) as info:
        Holder.model_validate_doc({"_id": ObjectId(), "items": [{"e": "x"}]})
    assert [error["loc"] for error in info.value.errors()] == [("items", 0, "e")]
