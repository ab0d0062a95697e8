"""Cursors: what find and aggregate return, awaited, iterated, and iterated again."""

from odmantic_fastapi import AIOEngine, Model, SyncEngine
from odmantic_fastapi.cursor import AIOCursor, SyncCursor


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


def test_a_sync_cursor_iterates_the_same_instances_twice(sync_engine: SyncEngine) -> None:
    sync_engine.save_all([Player(name="a", level=1), Player(name="b", level=2)])
    cursor = sync_engine.find(Player, sort=Player.level)
    assert isinstance(cursor, SyncCursor)
    first = list(cursor)
    second = list(cursor)
    assert [p.name for p in first] == ["a", "b"]
    assert all(a is b for a, b in zip(first, second, strict=True))
