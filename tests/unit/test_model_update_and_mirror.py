"""model_update, ODMantic's deprecated spellings, and the plain pydantic mirror of a model."""

from inspect import getdoc
from typing import Any

import pytest
from bson import ObjectId
from pydantic import BaseModel, model_validator

from odmantic_fastapi import EmbeddedModel, Field, Model, Reference


class Rectangle(Model):
    width: float
    height: float
    area: float = 0

    @model_validator(mode="before")
    @classmethod
    def compute_area(cls, values: Any) -> Any:
        if isinstance(values, dict):
            values["area"] = values["width"] * values["height"]
        return values


def test_model_update_applies_fields_validators_derive() -> None:
    rectangle = Rectangle(width=1, height=1)
    object.__setattr__(rectangle, "__fields_modified__", set())
    rectangle.model_update({"width": 5})
    assert rectangle.area == 5
    assert rectangle.__fields_modified__ == {"width", "area"}


class Coded(Model):
    code: int = Field(primary_field=True)
    label: str


def test_model_update_refuses_a_new_primary_key() -> None:
    class Patch(BaseModel):
        code: int

    item = Coded(code=1, label="a")
    message = "Updating the primary key is not supported"
    with pytest.raises(ValueError, match=message):
        item.model_update({"code": 2})
    with pytest.raises(ValueError, match=message):
        item.model_update(Patch(code=2))
    item.model_update({"code": 2}, exclude={"code"})
    item.model_update({"code": 1, "label": "b"})  # the same key is not a change
    assert (item.code, item.label) == (1, "b")


def test_deprecated_spellings_warn_and_still_work() -> None:
    item = Coded(code=1, label="a")
    with pytest.deprecated_call(match="copy is deprecated, please use model_copy"):
        assert item.copy() == item
    with pytest.deprecated_call(match="update is deprecated, please use model_update"):
        item.update({"label": "b"})
    with pytest.deprecated_call(match="doc is deprecated, please use model_dump_doc"):
        doc = item.doc()
    with pytest.deprecated_call(match="parse_doc is deprecated, please use model_validate_doc"):
        assert Coded.parse_doc(doc) == item


class Author(Model):
    name: str


class Note(EmbeddedModel):
    text: str


class Post(Model):
    author: Author = Reference()
    note: Note | None = None
    model_config = {"title": "Blog post"}


def test_pydantic_mirror_is_plain_pydantic_with_models_mirrored() -> None:
    mirror = Post.__pydantic_model__
    assert not issubclass(mirror, Model)
    assert mirror.model_json_schema()["title"] == "Blog post"
    assert Author.__pydantic_model__.model_json_schema()["title"] == "Author"
    assert mirror is Post.__pydantic_model__  # built once
    author = Author(name="Ann").__pydantic_model__(name="Ann")
    pure = mirror(author=author, note={"text": "hi"})
    assert not isinstance(pure.author, Model)  # type: ignore[attr-defined]
    assert not hasattr(mirror, "author")


def test_pydantic_mirror_dumps_object_ids_as_strings_in_json() -> None:
    author = Author(name="Ann")
    dumped = Author.__pydantic_model__.model_validate(author.model_dump()).model_dump(mode="json")
    assert dumped == {"id": str(author.id), "name": "Ann"}
    assert isinstance(author.id, ObjectId)


def test_models_without_docstring_have_no_description() -> None:
    class Bare(Model):
        value: int

    class Documented(EmbeddedModel):
        """Documented."""

    assert getdoc(Bare) == ""
    assert "description" not in Bare.model_json_schema()
    assert Documented.model_json_schema()["description"] == "Documented."
    assert getdoc(Model)
