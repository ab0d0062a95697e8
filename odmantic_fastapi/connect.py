"""Connecting: ``open_engine`` opens a client (and the embedded server when asked) for a block.

It imports no FastAPI: scripts, workers and tests open an engine the same way
as ``install``'s lifespan does.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from .engine import AIOEngine
from .model import Model
from .settings import MongoSettings

__all__ = ["open_engine"]


@asynccontextmanager
async def open_engine(
    settings: MongoSettings | None = None,
    models: Iterable[type[Model]] = (),
) -> AsyncIterator[AIOEngine]:
    """An engine on a fresh client for the duration of the block, indexes created.

    Starts the embedded server when ``settings.url`` is ``embedded://``.
    """
    settings = settings or MongoSettings()
    stack = contextlib.AsyncExitStack()
    async with stack:
        url = settings.url.get_secret_value()
        if settings.uses_embedded_server:
            from .embedded import EmbeddedServer

            server = EmbeddedServer(data_dir=settings.embedded_data_dir)
            url = await asyncio.to_thread(server.start)
            stack.callback(server.stop)
        client: Any
        if settings.client == "motor":
            from motor.motor_asyncio import AsyncIOMotorClient

            client = AsyncIOMotorClient(url, **settings.client_options())
            stack.callback(client.close)
        else:
            from pymongo import AsyncMongoClient

            client = AsyncMongoClient(url, **settings.client_options())
            stack.push_async_callback(client.close)
        engine = AIOEngine(client, database=settings.database)
        await engine.configure_database(list(models))
        yield engine
