"""Generic and recursive models are stored and read back like any other."""

from typing import Generic, TypeVar

import pytest
from pydantic import ValidationError

from odmantic_fastapi import AIOEngine, EmbeddedModel, Model

T = TypeVar("T")


class Node(EmbeddedModel):
    name: str
    children: list["Node"] = []


Node.model_rebuild()


class Tree(Model):
    root: Node


class Box(EmbeddedModel, Generic[T]):
    item: T


class Crate(Model):
    ints: Box[int]
    names: Box[str]


async def test_recursive_embedded_models_round_trip(aio_engine: AIOEngine) -> None:
    tree = Tree(root=Node(name="a", children=[Node(name="b", children=[Node(name="c")])]))
    await aio_engine.save(tree)
    loaded = await aio_engine.find_one(Tree, Tree.id == tree.id)
    assert loaded == tree
    assert await aio_engine.count(Tree, {"root.children.children.name": "c"}) == 1


async def test_generic_embedded_models_round_trip(aio_engine: AIOEngine) -> None:
    crate = Crate(ints=Box[int](item=3), names=Box[str](item="x"))
    await aio_engine.save(crate)
    loaded = await aio_engine.find_one(Crate, Crate.ints.item == 3)
    assert loaded == crate


class Slot(Model, Generic[T]):
    value: T


async def test_each_parametrization_of_a_generic_model_has_its_collection(
    aio_engine: AIOEngine,
) -> None:
    """As in ODMantic, ``Slot[int]`` is stored in "slot[int]", apart from ``Slot[str]``."""
    assert (Slot[int].__collection__, Slot[str].__collection__) == ("slot[int]", "slot[str]")
    await aio_engine.save_all([Slot[int](value=1), Slot[int](value=2)])
    await aio_engine.save(Slot[str](value="a"))
    assert await aio_engine.count(Slot[int]) == 2
    found = await aio_engine.find(Slot[str], {"value": "a"})
    assert [s.value for s in found] == ["a"]
    with pytest.raises(ValidationError):
        Slot[int](value="not a number")  # type: ignore[arg-type]
