"""Clients of every kind, talking to the session's server over the wire, and a sample collection."""

import datetime
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from bson import Int64
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, MongoClient
from pymongo.database import Database

from odmantic_fastapi.embedded import ServerProcess


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """A server process for one module's tests alone: the shared server cannot be killed or timed."""
    with ServerProcess() as process:
        yield process


@pytest.fixture
def db(mongodb_url: str, mongodb_database_name: str) -> Iterator[Database[dict[str, Any]]]:
    """A synchronous pymongo database of its own."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    try:
        yield client[mongodb_database_name]
    finally:
        client.close()


@pytest.fixture(params=["pymongo-async", "motor"])
async def aclient(request: pytest.FixtureRequest, mongodb_url: str) -> AsyncIterator[Any]:
    """An async client per test: pymongo's native async client, then motor."""
    client: Any
    if request.param == "pymongo-async":
        client = AsyncMongoClient(mongodb_url)
    else:
        client = AsyncIOMotorClient(mongodb_url)
    try:
        yield client
    finally:
        closed = client.close()
        if inspect.isawaitable(closed):
            await closed


async def maybe_await(value: Any) -> Any:
    """pymongo's async API and motor differ in which session calls are coroutines."""
    if inspect.isawaitable(value):
        return await value
    return value


# Five documents that disagree on types, arrays and missing fields, for query tests.
SAMPLE_DOCS: list[dict[str, Any]] = [
    {
        "_id": 1,
        "n": 5,
        "s": "apple",
        "tags": ["a", "b"],
        "sub": {"x": 1},
        "items": [{"k": 1, "v": "p"}, {"k": 2, "v": "q"}],
    },
    {
        "_id": 2,
        "n": 10.5,
        "s": "Banana",
        "tags": ["b"],
        "sub": {"x": 2},
        "items": [{"k": 3, "v": "p"}],
    },
    {"_id": 3, "n": "7", "s": "cherry", "tags": [], "nul": None},
    {"_id": 4, "n": Int64(20), "tags": ["a", "c", "d"], "sub": {"x": [1, 5]}},
    {"_id": 5, "n": None, "s": "date", "d": datetime.datetime(2024, 1, 1)},
]


@pytest.fixture
def coll(db: Database[Any]) -> Any:
    """A collection holding ``SAMPLE_DOCS``."""
    db.c.insert_many(SAMPLE_DOCS)
    return db.c
