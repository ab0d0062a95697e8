"""Cursors: what find and aggregate return, awaited, iterated, and iterated again."""

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import field_validator
from pymongo import AsyncMongoClient, monitoring

from odmantic_fastapi import AIOEngine, Field, Model, SyncEngine
from odmantic_fastapi.cursor import PARSE_BATCH, AIOCursor, SyncCursor
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


class Numbered(Model):
    """Notes each document's validation in EVENTS, beside the driver's getMores."""

    n: int

    @field_validator("n")
    @classmethod
    def note_parse(cls, value: int) -> int:
        if value < 0:
            raise ValueError("negative")
        EVENTS.append(("parse", value))
        return value


EVENTS: list[tuple[str, int]] = []


class _GetMores(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "getMore":
            EVENTS.append(("getMore", event.command["batchSize"]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def listened(mongodb_url: str, mongodb_database_name: str) -> AsyncIterator[AIOEngine]:
    """An engine on pymongo's async client whose getMores are noted in EVENTS."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_url, event_listeners=[_GetMores()])
    EVENTS.clear()
    yield AIOEngine(client, database=mongodb_database_name)
    await client.close()


async def stored_numbers(engine: AIOEngine, count: int) -> None:
    await engine.get_collection(Numbered).insert_many([{"n": i} for i in range(count)])
    EVENTS.clear()


async def test_a_find_of_many_batches_returns_every_document_in_order(
    aio_engine: AIOEngine,
) -> None:
    count = 2 * PARSE_BATCH + 500
    await stored_numbers(aio_engine, count)
    found = await aio_engine.find(Numbered, sort=Numbered.n)
    assert [instance.n for instance in found] == list(range(count))
    assert {instance.__fields_modified__ for instance in found} == {frozenset()}


async def test_a_find_asks_for_the_next_batch_before_it_parses_the_current_one(
    listened: AIOEngine,
) -> None:
    await stored_numbers(listened, 2 * PARSE_BATCH + 500)
    await listened.find(Numbered, sort=Numbered.n)
    get_mores = [i for i, event in enumerate(EVENTS) if event[0] == "getMore"]
    assert [EVENTS[i] for i in get_mores] == [("getMore", PARSE_BATCH)] * 2
    # Each getMore is sent before the first document of the batch before it is parsed.
    assert EVENTS[get_mores[0] + 1] == ("parse", 0)
    assert EVENTS[get_mores[1] + 1] == ("parse", PARSE_BATCH)


async def test_a_find_with_a_limit_stops_at_the_limit_across_batches(
    aio_engine: AIOEngine,
) -> None:
    await stored_numbers(aio_engine, 2 * PARSE_BATCH)
    found = await aio_engine.find(Numbered, sort=Numbered.n, skip=10, limit=PARSE_BATCH + 5)
    assert [instance.n for instance in found] == list(range(10, PARSE_BATCH + 15))


async def test_an_invalid_document_stops_a_find_and_abandons_the_next_batch_quietly(
    listened: AIOEngine,
) -> None:
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: loop_errors.append(context))
    collection = listened.get_collection(Numbered)
    await collection.insert_many([{"n": i} for i in range(3 * PARSE_BATCH)])
    await collection.update_one({"n": 5}, {"$set": {"n": -1}})
    with pytest.raises(DocumentParsingError):
        await listened.find(Numbered, sort=Numbered.n)
    gc.collect()
    await asyncio.sleep(0.05)
    assert loop_errors == []
    assert len(await listened.find(Numbered, Numbered.n >= 0)) == 3 * PARSE_BATCH - 1


def test_a_sync_cursor_iterates_the_same_instances_twice(sync_engine: SyncEngine) -> None:
    sync_engine.save_all([Player(name="a", level=1), Player(name="b", level=2)])
    cursor = sync_engine.find(Player, sort=Player.level)
    assert isinstance(cursor, SyncCursor)
    first = list(cursor)
    second = list(cursor)
    assert [p.name for p in first] == ["a", "b"]
    assert all(a is b for a, b in zip(first, second, strict=True))
