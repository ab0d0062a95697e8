"""Limits and expiry: the connection limit, idle cursors, idle sessions."""

import contextlib
import socket
import struct
import time
from typing import Any

import bson
from pymongo import MongoClient

from odmantic_fastapi.embedded import EmbeddedServer, ServerProcess
from odmantic_fastapi.embedded.cursors import IDLE_TIMEOUT_SECONDS, CursorRegistry
from odmantic_fastapi.embedded.storage.store import Store
from odmantic_fastapi.embedded.transactions import SessionRegistry


def _ping(sock: socket.socket) -> dict[str, Any]:
    payload = b"\x00\x00\x00\x00\x00" + bson.encode({"ping": 1, "$db": "admin"})
    sock.sendall(struct.pack("<iiii", 16 + len(payload), 7, 0, 2013) + payload)
    header = sock.recv(16, socket.MSG_WAITALL)
    (length,) = struct.unpack("<i", header[:4])
    return bson.decode(sock.recv(length - 16, socket.MSG_WAITALL)[5:])


def _address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].strip("/").rsplit(":", 1)
    return host, int(port)


def test_connections_over_the_limit_are_refused_and_the_others_keep_working() -> None:
    with EmbeddedServer(max_connections=2) as server:
        address = _address(server.url)
        first = socket.create_connection(address, timeout=5)
        second = socket.create_connection(address, timeout=5)
        try:
            assert _ping(first)["ok"] == 1.0
            assert _ping(second)["ok"] == 1.0
            with socket.create_connection(address, timeout=5) as third:
                assert third.recv(1) == b""  # closed by the server at once
            assert _ping(first)["ok"] == 1.0
        finally:
            first.close()
            second.close()
        deadline = time.monotonic() + 5
        while True:  # the freed slots are usable again
            with socket.create_connection(address, timeout=5) as again:
                try:
                    assert _ping(again)["ok"] == 1.0
                    break
                except (OSError, struct.error):
                    if time.monotonic() > deadline:
                        raise
            time.sleep(0.05)


def test_idle_cursors_expire_and_busy_ones_stay() -> None:
    registry = CursorRegistry()
    docs = [{"_id": i} for i in range(10)]
    idle = int(registry.first_batch("db.c", docs, 2)["id"])
    busy = int(registry.first_batch("db.c", docs, 2)["id"])
    now = time.monotonic()
    registry.cursors[idle].last_used = now - IDLE_TIMEOUT_SECONDS - 1  # untouched for 10 min
    registry.get_more(busy, "db.c", 2)
    assert registry.reap(now) == 1
    assert set(registry.cursors) == {busy}
    assert registry.timed_out == 1


def test_idle_sessions_expire_and_abandoned_transactions_abort() -> None:
    store = Store()
    sessions = SessionRegistry(store)
    lsid = {"id": bson.Binary(b"\x01" * 16, 4)}
    options = sessions.options_for(
        "insert",
        {
            "insert": "c",
            "lsid": lsid,
            "txnNumber": 1,
            "autocommit": False,
            "startTransaction": True,
        },
    )
    assert options.in_transaction
    now = time.monotonic()
    assert sessions.reap(now + sessions.transaction_lifetime_limit_seconds + 1) == 1
    assert sessions.stats()["totalAborted"] == 1
    assert sessions.reap(now + sessions.session_timeout_seconds + 1) == 0
    assert sessions.sessions == {}


def test_a_server_process_keeps_serving_whatever_it_logs() -> None:
    """Refused connections each log a line; 160 kB of log must not stall the server.

    (Its log once went to a pipe nobody read: the server blocked after 64 kB.)
    """
    with ServerProcess(max_connections=3) as server:
        host, port = server.url.removeprefix("mongodb://").split("/")[0].split(":")
        held = [socket.create_connection((host, int(port))) for _ in range(3)]
        for _ in range(2000):
            with (
                socket.create_connection((host, int(port)), timeout=10) as refused,
                contextlib.suppress(ConnectionResetError),
            ):
                refused.recv(1)  # the server closes it at once
        for connection in held:
            connection.close()
        assert len(server.log()) > 64 * 1024
        client: MongoClient[dict[str, Any]] = MongoClient(server.url, serverSelectionTimeoutMS=5000)
        try:
            assert client.admin.command("ping")["ok"] == 1
        finally:
            client.close()
