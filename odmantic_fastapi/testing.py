"""pytest plugin: a MongoDB URL for the test session and a fresh database for each test.

Installed as a ``pytest11`` entry point, so any project that installs
odmantic_fastapi gets these fixtures:

- ``mongodb_url`` (session): ``MONGODB_URL`` when set, so the same suite runs
  against a real replica set; otherwise an in-memory embedded server started
  for the session.
- ``mongodb_database_name``: a unique database name, dropped after the test.
- ``mongodb_client``: a session-wide synchronous ``MongoClient``.
- ``faults``: fault injection into the server for the test (:class:`Faults`).

The embedded server started here accepts fail points (test commands are on),
so an application's failure paths can be tested over the wire::

    def test_checkout_survives_an_unknown_commit(faults, client):
        with faults.commit_result_unknown() as fault:
            assert client.post("/orders").status_code == 201
        assert fault.fired == 1

Async clients belong to one event loop, so make them per test (or pair a
session-scoped client with a session-scoped event loop).
"""

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import MongoClient

from .embedded import EmbeddedServer

__all__ = [
    "FaultInjection",
    "Faults",
    "fail_command",
    "faults",
    "mongodb_client",
    "mongodb_database_name",
    "mongodb_url",
    "serve_with_uvicorn",
]

MONGODB_URL_ENV = "MONGODB_URL"


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    """The server every test of the session talks to."""
    url = os.environ.get(MONGODB_URL_ENV)
    if url:
        yield url
        return
    with EmbeddedServer(test_commands=True) as server:
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


_WRITE_COMMANDS = ("insert", "update", "delete", "findAndModify")


@dataclass
class FaultInjection:
    """One armed fail point; after the ``with`` block, ``fired`` says how often it acted."""

    commands: tuple[str, ...]
    fired: int = 0


@contextlib.contextmanager
def fail_command(
    client: MongoClient[Any],
    commands: str | Sequence[str],
    *,
    times: int | None = 1,
    error_code: int | None = None,
    error_labels: Sequence[str] | None = None,
    close_connection: bool = False,
    block_ms: int | None = None,
    write_concern_error: Mapping[str, Any] | None = None,
    app_name: str | None = None,
) -> Iterator[FaultInjection]:
    """Make the server fail the next ``times`` runs of ``commands`` (every run if ``None``).

    The server must accept test commands (the ``mongodb_url`` server does, and
    so does mongod with ``enableTestCommands``). The fail point is turned off
    when the block exits, even on error.

    Args:
        client: a synchronous client of the server to inject the fault into.
        commands: command names (``"insert"``, ``"commitTransaction"``...).
        times: how many matching commands fail; ``None`` for all of them.
        error_code: fail with this MongoDB error code.
        error_labels: the error's labels (the server's usual ones when omitted).
        close_connection: close the connection instead of replying.
        block_ms: hold the command this long first (then run or fail it).
        write_concern_error: run the command, then report this write concern error.
        app_name: only fail commands from clients with this ``appname``.

    Raises:
        pymongo.errors.OperationFailure: the server does not accept fail points.
    """
    names = (commands,) if isinstance(commands, str) else tuple(commands)
    data: dict[str, Any] = {"failCommands": list(names)}
    if error_code is not None:
        data["errorCode"] = error_code
    if error_labels is not None:
        data["errorLabels"] = list(error_labels)
    if close_connection:
        data["closeConnection"] = True
    if block_ms is not None:
        data.update(blockConnection=True, blockTimeMS=block_ms)
    if write_concern_error is not None:
        data["writeConcernError"] = dict(write_concern_error)
    if app_name is not None:
        data["appName"] = app_name
    mode: Any = "alwaysOn" if times is None else {"times": times}
    client.admin.command("configureFailPoint", "failCommand", mode=mode, data=data)
    injection = FaultInjection(names)
    try:
        yield injection
    finally:
        reply = client.admin.command("configureFailPoint", "failCommand", mode="off")
        injection.fired = int(reply.get("count", 0))


class Faults:
    """Ready-made faults for an application's tests; the ``faults`` fixture gives one.

    Each method is a context manager around :func:`fail_command`.
    """

    def __init__(self, client: MongoClient[Any]) -> None:
        self.client = client

    def commit_result_unknown(
        self, *, times: int | None = 1, app_name: str | None = None
    ) -> contextlib.AbstractContextManager[FaultInjection]:
        """The next commit is applied, but its client hears UnknownTransactionCommitResult.

        The reply carries a write concern error (WriteConcernFailed, code 64), as
        when replication times out: the transaction is committed, and retrying
        the commit must not apply it twice.
        """
        return fail_command(
            self.client,
            "commitTransaction",
            times=times,
            write_concern_error={
                "code": 64,
                "codeName": "WriteConcernFailed",
                "errmsg": "waiting for replication timed out",
                "errInfo": {"wtimeout": True},
            },
            app_name=app_name,
        )

    def write_conflict(
        self,
        *,
        times: int | None = 1,
        commands: Sequence[str] = _WRITE_COMMANDS,
        app_name: str | None = None,
    ) -> contextlib.AbstractContextManager[FaultInjection]:
        """The next write fails with WriteConflict (112), labelled TransientTransactionError."""
        return fail_command(
            self.client,
            commands,
            times=times,
            error_code=112,
            error_labels=["TransientTransactionError"],
            app_name=app_name,
        )

    def connection_closed(
        self,
        commands: str | Sequence[str],
        *,
        times: int | None = 1,
        app_name: str | None = None,
    ) -> contextlib.AbstractContextManager[FaultInjection]:
        """The server closes the connection, unanswered, on the next of ``commands``."""
        return fail_command(
            self.client, commands, times=times, close_connection=True, app_name=app_name
        )

    @contextlib.contextmanager
    def connection_closed_after_write(self, *, times: int = 1) -> Iterator[FaultInjection]:
        """The next retryable write is applied, then its connection closes before the reply.

        The driver retries the write; the server must answer the retry with the
        first write's result instead of applying it again.
        """
        admin = self.client.admin
        admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": times})
        injection = FaultInjection(_WRITE_COMMANDS)
        try:
            yield injection
        finally:
            reply = admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
            injection.fired = int(reply.get("count", 0))


@pytest.fixture
def faults(mongodb_client: MongoClient[dict[str, object]]) -> Iterator[Faults]:
    """Fault injection into the test session's server; every fail point is off afterwards."""
    yield Faults(mongodb_client)
    for name in ("failCommand", "failGetMoreAfterCursorCheckout", "onPrimaryTransactionalWrite"):
        mongodb_client.admin.command("configureFailPoint", name, mode="off")
