"""FastAPI apps defined inline in tests, run with their lifespan against the session's server."""

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from odmantic_fastapi.settings import MongoSettings
from odmantic_fastapi.testing import serve_with_uvicorn


@pytest.fixture
def settings(mongodb_url: str, mongodb_database_name: str) -> MongoSettings:
    return MongoSettings(url=mongodb_url, database=mongodb_database_name)


@pytest.fixture(params=["in-process", "uvicorn"])
async def serve(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[FastAPI], Any]]:
    """Start an app and give an httpx client for it: in-process with its lifespan, or
    over real HTTP to a uvicorn server on 127.0.0.1.

    ``raise_app_exceptions=False`` is for apps that answer and then re-raise (as
    Starlette's ServerErrorMiddleware does after a catch-all handler's answer)."""
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []
    servers = contextlib.ExitStack()

    async def start(app: FastAPI, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
        if request.param == "uvicorn":
            url = servers.enter_context(serve_with_uvicorn(app))
            client = httpx.AsyncClient(base_url=url, timeout=30)
        else:
            manager = LifespanManager(app)
            await manager.__aenter__()
            managers.append(manager)
            transport = httpx.ASGITransport(
                app=manager.app, raise_app_exceptions=raise_app_exceptions
            )
            client = httpx.AsyncClient(transport=transport, base_url="http://test")
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for manager in reversed(managers):
        await manager.__aexit__(None, None, None)
    servers.close()


@pytest.fixture
async def reader(mongodb_url: str, mongodb_database_name: str) -> AsyncIterator[Any]:
    """An independent connection, to check what others can see."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    yield client[mongodb_database_name]
    await client.close()
