"""Cursors: what find and aggregate return, awaited, iterated, and iterated again."""

import gc

import pytest
from pydantic import field_validator

from odmantic_fastapi import AIOEngine, Field, Model, SyncEngine
from odmantic_fastapi.cursor import AIOCursor, SyncCursor
from odmantic_fastapi.exceptions import DocumentParsingError


class Player(Model):
    name: str
    level: int


async def test_an_awaited_cursor_iterates_the_same_instances_again(aio_engine: AIOEngine) -> None:
    await aio_engine.save_all([Player(name="a", level=1), Player(name="b", level=2)])
    cursor = aio_engine.find(Player, sort=Player.level)
    assert isinstance(cursor, AIOCursor)
    listed = await cursor
    iterated = [player async for player in cursor]
    assert [p.name for p in listed] == ["a", "b"]
    assert all(a is b for a, b in zip(listed, iterated, strict=True))
    assert await cursor is listed


async def test_an_iterated_cursor_awaits_to_the_same_instances(aio_engine: AIOEngine) -> None:
    await aio_engine.save_all([Player(name="a", level=1), Player(name="b", level=2)])
    cursor = aio_engine.find(Player, sort=Player.level)
    iterated = [player async for player in cursor]
    listed = await cursor
    assert [p.name for p in iterated] == ["a", "b"]
    assert all(a is b for a, b in zip(iterated, listed, strict=True))


async def test_an_aggregate_cursor_parses_each_document(aio_engine: AIOEngine) -> None:
    await aio_engine.save_all([Player(name="a", level=1), Player(name="b", level=5)])
    cursor = aio_engine.aggregate(Player, [Player.level > 2])
    assert [doc["name"] async for doc in cursor] == ["b"]


class Shouty(Model):
    model_config = {"str_to_upper": True}

    name: str
    level: int = 0

    @field_validator("level")
    @classmethod
    def at_most_ten(cls, value: int) -> int:
        if value > 10:
            raise ValueError("at most ten")
        return value


async def test_an_awaited_find_parses_every_document_as_one_at_a_time(
    aio_engine: AIOEngine,
) -> None:
    await aio_engine.get_collection(Shouty).insert_many(
        [{"name": "a", "level": 1}, {"name": "b", "level": 2}, {"name": "c", "level": 3}]
    )
    found = await aio_engine.find(Shouty, sort=Shouty.level)
    docs = await aio_engine.get_collection(Shouty).find({}, sort=[("level", 1)]).to_list()
    one_by_one = [Shouty.model_validate_doc(doc) for doc in docs]
    assert found == one_by_one
    assert [p.name for p in found] == ["A", "B", "C"]
    assert [p.model_fields_set for p in found] == [p.model_fields_set for p in one_by_one]
    assert [p.__fields_modified__ for p in found] == [frozenset()] * 3


async def test_an_awaited_find_reports_an_invalid_document_among_many_as_alone(
    aio_engine: AIOEngine,
) -> None:
    collection = aio_engine.get_collection(Shouty)
    await collection.insert_many([{"name": "a", "level": 1}, {"name": "b", "level": 11}])
    with pytest.raises(DocumentParsingError) as among_many:
        await aio_engine.find(Shouty)
    with pytest.raises(DocumentParsingError) as alone:
        Shouty.model_validate_doc(await collection.find_one({"name": "b"}))
    assert str(among_many.value) == str(alone.value)


async def test_an_awaited_find_reports_a_missing_key_among_many_as_alone(
    aio_engine: AIOEngine,
) -> None:
    collection = aio_engine.get_collection(Shouty)
    await collection.insert_many([{"name": "a", "level": 1}, {"level": 2}])
    with pytest.raises(DocumentParsingError) as among_many:
        await aio_engine.find(Shouty)
    with pytest.raises(DocumentParsingError) as alone:
        Shouty.model_validate_doc(await collection.find_one({"level": 2}))
    assert str(among_many.value) == str(alone.value)


class Tagged(Model):
    name: str
    tags: list[str] = Field(default_factory=list)


async def test_an_awaited_find_refuses_a_key_only_a_default_factory_could_fill(
    aio_engine: AIOEngine,
) -> None:
    """As ODMantic: a stored document must hold such a key, among many as alone."""
    collection = aio_engine.get_collection(Tagged)
    await collection.insert_many([{"name": "a", "tags": []}, {"name": "b"}])
    with pytest.raises(DocumentParsingError) as among_many:
        await aio_engine.find(Tagged)
    with pytest.raises(DocumentParsingError) as alone:
        Tagged.model_validate_doc(await collection.find_one({"name": "b"}))
    assert str(among_many.value) == str(alone.value)
    assert "tags" in str(alone.value)


class Counted(Model):
    """Records whether the garbage collector ran while each document was validated."""

    n: int

    @field_validator("n")
    @classmethod
    def note_collector(cls, value: int) -> int:
        COLLECTOR_STATES.append(gc.isenabled())
        if value < 0:
            raise ValueError("negative")
        return value


COLLECTOR_STATES: list[bool] = []


async def test_a_large_find_parses_with_the_collector_paused_then_resumes_it(
    aio_engine: AIOEngine, collector_enabled: None
) -> None:
    await aio_engine.get_collection(Counted).insert_many([{"n": i} for i in range(300)])
    COLLECTOR_STATES.clear()
    assert len(await aio_engine.find(Counted)) == 300
    assert COLLECTOR_STATES == [False] * 300
    assert gc.isenabled()
    COLLECTOR_STATES.clear()
    assert len(await aio_engine.find(Counted, limit=10)) == 10  # too few to pause for
    assert COLLECTOR_STATES == [True] * 10


async def test_a_large_find_with_an_invalid_document_resumes_the_collector(
    aio_engine: AIOEngine, collector_enabled: None
) -> None:
    await aio_engine.get_collection(Counted).insert_many(
        [{"n": i} for i in range(299)] + [{"n": -1}]
    )
    with pytest.raises(DocumentParsingError):
        await aio_engine.find(Counted)
    assert gc.isenabled()


def test_a_sync_cursor_iterates_the_same_instances_twice(sync_engine: SyncEngine) -> None:
    sync_engine.save_all([Player(name="a", level=1), Player(name="b", level=2)])
    cursor = sync_engine.find(Player, sort=Player.level)
    assert isinstance(cursor, SyncCursor)
    first = list(cursor)
    second = list(cursor)
    assert [p.name for p in first] == ["a", "b"]
    assert all(a is b for a, b in zip(first, second, strict=True))
