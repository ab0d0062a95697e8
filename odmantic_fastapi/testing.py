"""pytest plugin: a MongoDB URL for the test session and a fresh database for each test.

Installed as a ``pytest11`` entry point, so any project that installs
odmantic_fastapi gets these fixtures:

- ``mongodb_url`` (session): ``MONGODB_URL`` when set, so the same suite runs
  against a real replica set; otherwise an in-memory embedded server started
  for the session.
- ``mongodb_database_name``: a unique database name, dropped after the test.
- ``mongodb_client``: a session-wide synchronous ``MongoClient``.

Async clients belong to one event loop, so make them per test (or pair a
session-scoped client with a session-scoped event loop).
"""

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from .embedded import EmbeddedServer

__all__ = ["mongodb_client", "mongodb_database_name", "mongodb_url", "serve_with_uvicorn"]

MONGODB_URL_ENV = "MONGODB_URL"


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    """The server every test of the session talks to."""
    url = os.environ.get(MONGODB_URL_ENV)
    if url:
        yield url
        return
    with EmbeddedServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def mongodb_client(mongodb_url: str) -> Iterator[MongoClient[dict[str, object]]]:
    """A synchronous client shared by the session (sync clients are not loop-bound)."""
    client: MongoClient[dict[str, object]] = MongoClient(mongodb_url, uuidRepresentation="standard")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def mongodb_database_name(mongodb_client: MongoClient[dict[str, object]]) -> Iterator[str]:
    """A database name no other test uses; the database is dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:20]}"
    try:
        yield name
    finally:
        mongodb_client.drop_database(name)


@contextlib.contextmanager
def serve_with_uvicorn(app: Any, *, startup_timeout: float = 30.0) -> Iterator[str]:
    """Run an ASGI app with a real uvicorn server on 127.0.0.1 (a free port) in a thread.

    Yields the base URL; the server shuts down (lifespan included) on exit.
    """
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    waited = threading.Event()
    elapsed = 0.0
    while not server.started:
        if not thread.is_alive() or elapsed > startup_timeout:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        waited.wait(0.05)
        elapsed += 0.05
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(startup_timeout)
