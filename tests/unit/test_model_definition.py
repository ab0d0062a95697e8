"""Model definition: what a class statement refuses, with ODMantic 1.1's exception types."""

from collections.abc import Callable
from typing import Annotated, Any

import pydantic
import pytest

from odmantic_fastapi import EmbeddedModel, Field, Index, Model, Reference
from odmantic_fastapi.bson import WithBsonSerializer
from odmantic_fastapi.config import validate_config
from odmantic_fastapi.index import ODMCompoundIndex, ODMSingleFieldIndex
from odmantic_fastapi.query import SortExpression, asc, desc


def test_key_name_starting_with_dollar_is_refused_when_the_class_is_built() -> None:
    info = Field(key_name="$price")  # the Field itself is fine: the class decides
    with pytest.raises(TypeError, match=r"key_name cannot start with the dollar sign \(\$\)"):

        class Item(Model):
            price: int = info


def test_key_name_with_a_dot_is_refused_when_the_class_is_built() -> None:
    with pytest.raises(TypeError, match=r"key_name cannot contain the dot \(\.\)"):

        class Item(Model):
            price: int = Field(key_name="a.b")


def test_underscore_id_key_name_needs_primary_field() -> None:
    with pytest.raises(ValueError, match="cannot specify key_name='_id' without defining"):
        Field(key_name="_id")


def test_primary_field_refuses_a_custom_key_name_and_defaults_to_underscore_id() -> None:
    with pytest.raises(ValueError, match="key_name='_id' enforced"):
        Field(primary_field=True, key_name="code")
    assert Field(primary_field=True).key_name == "_id"
    assert Field(primary_field=True, key_name="_id").key_name == "_id"


def test_pydantic_field_as_default_is_refused() -> None:
    with pytest.raises(TypeError, match=r"use odmantic\.Field instead of pydantic\.Field"):

        class Item(Model):
            price: int = pydantic.Field(default=1)


def test_default_the_annotation_refuses_is_a_definition_error() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match="Unhandled field definition Item"):

        class Item(Model):
            price: int | None = "a"  # type: ignore[assignment]

    with pytest.raises(TypeError, match="Unhandled field definition"):

        class Other(Model):
            price: int = Opaque()  # type: ignore[assignment]


def test_value_without_annotation_is_refused() -> None:
    with pytest.raises(TypeError, match="field price is defined without type annotation"):
        type("Item", (Model,), {"price": 3, "__module__": __name__})


def test_methods_properties_and_private_names_need_no_annotation() -> None:
    class Item(Model):
        price: int
        _cache = None

        @property
        def doubled(self) -> int:
            return self.price * 2

        def label(self) -> str:
            return str(self.price)

    assert Item(price=2).doubled == 4


def test_callable_fields_are_refused() -> None:
    with pytest.raises(TypeError, match="fields are not supported"):

        class Item(Model):
            hook: Callable[..., Any]

    with pytest.raises(TypeError, match="fields are not supported"):

        class Bare(Model):
            hook: Callable  # type: ignore[type-arg]


def test_two_primary_fields_are_duplicated_key_names() -> None:
    with pytest.raises(TypeError, match="Duplicated key_name: _id in Item"):

        class Item(Model):
            a: int = Field(primary_field=True)
            b: int = Field(primary_field=True)


class _Part(EmbeddedModel):
    serial: int


@pytest.mark.parametrize("container", [list, set, tuple])
def test_container_of_embedded_models_cannot_be_the_primary_key(container: Any) -> None:
    with pytest.raises(TypeError, match="generic type of embedded models as a primary field"):

        class Kit(Model):
            parts: container[_Part] = Field(primary_field=True)


class _Owner(Model):
    name: str


class _Tag(EmbeddedModel):
    owner: _Owner = Reference()


@pytest.mark.parametrize(
    "annotation", [list[_Tag], set[_Tag], dict[str, _Tag], tuple[_Tag], tuple[_Tag, ...]]
)
def test_container_of_embedded_models_holding_references_is_refused(annotation: Any) -> None:
    with pytest.raises(TypeError, match="embedded models containing references is not allowed"):
        type("Tagged", (Model,), {"__annotations__": {"tags": annotation}, "__module__": __name__})


@pytest.mark.parametrize(
    ("collection", "message"),
    [
        ("a$b", r"cannot contain '\$'"),
        ("", "cannot be empty"),
        ("system.x", "cannot start with 'system.'"),
    ],
)
def test_invalid_collection_names_are_refused(collection: str, message: str) -> None:
    with pytest.raises(TypeError, match=f"Invalid collection name for Item: {message}"):

        class Item(Model):
            model_config = {"collection": collection}


def test_config_errors_name_the_option_and_why() -> None:
    with pytest.raises(ValueError, match="'M': unknown configuration attribute 'nope'"):
        validate_config({"nope": True}, "M")
    with pytest.raises(ValueError, match="'M': configuration attribute 'strict' from Pydantic"):
        validate_config({"strict": True}, "M")
    with pytest.raises(ValueError, match="'validate_assignment' is enforced to True by ODMantic"):
        validate_config({"validate_assignment": True}, "M")


def test_a_frozen_model_is_refused_since_saves_and_updates_change_instances() -> None:
    with pytest.raises(ValueError, match="'M': configuration attribute 'frozen' from Pydantic"):

        class M(Model):
            a: int
            model_config = {"frozen": True}


class _Score(Model):
    player: str
    points: int
    model_config = {"indexes": lambda: [Index(_Score.player, desc(_Score.points), unique=True)]}


def test_compound_index_keeps_its_sort_expressions() -> None:
    (index,) = _Score.__indexes__()
    assert isinstance(index, ODMCompoundIndex)
    assert index.fields == (asc(_Score.player), desc(_Score.points))
    assert index.get_pymongo_index().document["key"] == {"player": 1, "points": -1}


def test_single_ascending_index_from_a_sort_expression() -> None:
    index = Index(asc(_Score.points)).to_odm_index()
    assert isinstance(index, ODMSingleFieldIndex) and index.key_name == "points"


def test_empty_sort_expression_repr() -> None:
    assert repr(SortExpression()) == "SortExpression()"
    assert repr(desc(_Score.points)) == "SortExpression({'points': -1})"


def test_with_bson_serializer_writes_the_document_value() -> None:
    class Measure(Model):
        value: Annotated[float, WithBsonSerializer(str)]

    assert Measure(value=3.5).model_dump_doc()["value"] == "3.5"
