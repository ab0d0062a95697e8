"""Checked by mypy only: what the checker infers from engine.watch and its events."""

from pymongo import AsyncMongoClient, MongoClient

from odmantic_fastapi import AIOEngine, Model, SyncEngine
from odmantic_fastapi.change_stream import (
    AIOChangeStream,
    ChangeEvent,
    SyncChangeStream,
    UpdateDescription,
)


class Author(Model):
    name: str


def aio_engine() -> AIOEngine:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(connect=False)
    return AIOEngine(client)


def sync_engine() -> SyncEngine:
    client: MongoClient[dict[str, object]] = MongoClient(connect=False)
    return SyncEngine(client)


def watch_is_typed_by_the_model() -> AIOChangeStream[Author]:
    return aio_engine().watch(Author, Author.name == "Ada", full_document="updateLookup")


def sync_watch_is_typed_by_the_model() -> SyncChangeStream[Author]:
    return sync_engine().watch(Author)


async def events_carry_the_model() -> Author | None:
    async with aio_engine().watch(Author) as stream:
        async for event in stream:
            return event.document
    return None


def sync_events_carry_the_model() -> list[ChangeEvent[Author]]:
    with sync_engine().watch(Author) as stream:
        return list(stream)


def update_descriptions_are_typed(event: ChangeEvent[Author]) -> UpdateDescription | None:
    return event.update_description
