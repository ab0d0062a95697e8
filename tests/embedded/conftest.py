"""Clients of every kind, talking to the session's server over the wire."""

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, MongoClient
from pymongo.database import Database


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
