"""FastAPI apps defined inline in tests, run with their lifespan against the session's server."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from odmantic_fastapi.settings import MongoSettings


@pytest.fixture
def settings(mongodb_url: str, mongodb_database_name: str) -> MongoSettings:
    return MongoSettings(url=mongodb_url, database=mongodb_database_name)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[FastAPI], Any]]:
    """Start an app's lifespan and give an httpx client talking to it in-process."""
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def start(app: FastAPI) -> httpx.AsyncClient:
        manager = LifespanManager(app)
        await manager.__aenter__()
        managers.append(manager)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        )
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for manager in reversed(managers):
        await manager.__aexit__(None, None, None)


@pytest.fixture
async def reader(mongodb_url: str, mongodb_database_name: str) -> AsyncIterator[Any]:
    """An independent connection, to check what others can see."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    yield client[mongodb_database_name]
    await client.close()
