"""Connecting: ``open_engine`` opens a client (and the embedded server when asked) for a block.

It imports no FastAPI: scripts, workers and tests open an engine the same way
as ``install``'s lifespan does. :func:`open_engines` also gives a
:class:`SyncEngine` on the same deployment, made on first use, for ``def`` routes.
"""

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pymongo
from pymongo.errors import ServerSelectionTimeoutError

from .engine import AIOEngine, SyncEngine
from .model import Model
from .settings import MongoSettings

__all__ = ["Engines", "open_engine", "open_engines"]


def _hosts(url: str) -> str:
    """The hosts a connection string names, without its credentials or options."""
    scheme, _, rest = url.partition("://")
    hosts = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    return f"{hosts} (DNS SRV)" if scheme == "mongodb+srv" else hosts


def _unreachable(url: str, timeout: float, exc: ServerSelectionTimeoutError) -> str:
    # pymongo's message ends with the whole topology description; its first part says why.
    reason = str(exc).split(" (configured timeouts", 1)[0].split(", Timeout:", 1)[0][:200]
    return (
        f"cannot reach MongoDB at {_hosts(url)} within {timeout:g} s ({reason}): check that "
        "MONGODB_URL names a running server or replica set (with its replicaSet name) that "
        "this machine can reach; MONGODB_SERVER_SELECTION_TIMEOUT_MS sets how long to wait"
    )


class Engines:
    """An application's AIOEngine, and a SyncEngine on the same deployment made on first use."""

    def __init__(self, aio: AIOEngine, sync_factory: Callable[[], SyncEngine] | None) -> None:
        self.aio = aio
        self._sync_factory = sync_factory
        self._sync: SyncEngine | None = None
        self._lock = threading.Lock()

    def sync(self) -> SyncEngine:
        """The SyncEngine (thread-safe: ``def`` routes run in worker threads).

        Raises:
            RuntimeError: the engine was opened by a custom factory, which gives no sync engine.
        """
        with self._lock:
            if self._sync is None:
                if self._sync_factory is None:
                    raise RuntimeError(
                        "a SyncEngine needs install(app, settings=...): an engine_factory "
                        "gives the async engine only"
                    )
                self._sync = self._sync_factory()
            return self._sync

    def close(self) -> None:
        with self._lock:
            if self._sync is not None:
                self._sync.client.close()
                self._sync = None


@asynccontextmanager
async def open_engines(
    settings: MongoSettings | None = None,
    models: Iterable[type[Model]] = (),
) -> AsyncIterator[Engines]:
    """The engines on fresh clients for the duration of the block, indexes created.

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
        options = settings.client_options()
        client: Any
        if settings.client == "motor":
            from motor.motor_asyncio import AsyncIOMotorClient

            client = AsyncIOMotorClient(url, **options)
            stack.callback(client.close)
        else:
            from pymongo import AsyncMongoClient

            client = AsyncMongoClient(url, **options)
            stack.push_async_callback(client.close)
        try:
            # One round trip, so an unreachable deployment fails startup, not the first request.
            await client.admin.command("ping")
        except ServerSelectionTimeoutError as exc:
            timeout = client.options.server_selection_timeout
            raise ServerSelectionTimeoutError(_unreachable(url, timeout, exc)) from None
        engine = AIOEngine(client, database=settings.database)
        await engine.configure_database(list(models))
        database = settings.database
        engines = Engines(
            engine, lambda: SyncEngine(pymongo.MongoClient(url, **options), database=database)
        )
        stack.callback(engines.close)
        yield engines


@asynccontextmanager
async def open_engine(
    settings: MongoSettings | None = None,
    models: Iterable[type[Model]] = (),
) -> AsyncIterator[AIOEngine]:
    """An engine on a fresh client for the duration of the block, indexes created.

    Starts the embedded server when ``settings.url`` is ``embedded://``.
    """
    async with open_engines(settings, models) as engines:
        yield engines.aio
