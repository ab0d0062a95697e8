"""Engines of every kind on a database of their own, talking to the session's server."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, MongoClient

from odmantic_fastapi import AIOEngine, SyncEngine


@pytest.fixture(params=["pymongo-async", "motor"])
async def aio_engine(
    request: pytest.FixtureRequest, mongodb_url: str, mongodb_database_name: str
) -> AsyncIterator[AIOEngine]:
    """An AIOEngine on pymongo's async client, then on motor."""
    client: Any
    if request.param == "pymongo-async":
        client = AsyncMongoClient(mongodb_url)
    else:
        client = AsyncIOMotorClient(mongodb_url)
    yield AIOEngine(client, database=mongodb_database_name)
    closed = client.close()
    if closed is not None:
        await closed


@pytest.fixture
def sync_engine(mongodb_url: str, mongodb_database_name: str) -> Iterator[SyncEngine]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    yield SyncEngine(client, database=mongodb_database_name)
    client.close()


async def open_server_state(engine: AIOEngine) -> tuple[int, int]:
    """Open transactions and sessions the server still holds."""
    status = await engine.client.admin.command("serverStatus")
    return (
        status["transactions"]["currentOpen"],
        status["logicalSessionRecordCache"]["activeSessionsCount"],
    )
