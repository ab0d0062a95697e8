"""Connections and exposure over the wire: thousands of idle sockets, withheld bodies, binding."""

import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from odmantic_fastapi.embedded import EmbeddedServer, ServerProcess
from odmantic_fastapi.embedded.server import MongoServer, ServerConfig


def _address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].strip("/").rsplit(":", 1)
    return host, int(port)


@pytest.fixture
def process() -> Iterator[ServerProcess]:
    with ServerProcess() as server:
        yield server


def test_five_thousand_idle_connections_and_a_new_client_is_served_at_once(
    process: ServerProcess,
) -> None:
    address = _address(process.url)
    idle: list[socket.socket] = []
    try:
        for _ in range(5000):
            idle.append(socket.create_connection(address, timeout=10))
        client: MongoClient[dict[str, Any]] = MongoClient(process.url)
        start = time.perf_counter()
        client.admin.command("ping")
        client.app.c.insert_one({"_id": 1})
        assert client.app.c.find_one() == {"_id": 1}
        elapsed = time.perf_counter() - start
        status = client.admin.command("serverStatus")
        client.close()
    finally:
        for sock in idle:
            sock.close()
    assert status["connections"]["current"] >= 5000
    assert elapsed < 2.0


def test_a_withheld_body_is_dropped_after_the_timeout() -> None:
    server = EmbeddedServer()
    server.config.body_timeout_seconds = 0.5
    url = server.start()
    try:
        with socket.create_connection(_address(url), timeout=10) as sock:
            # Declare 48 MB, send 1 MB of it, then nothing.
            sock.sendall(struct.pack("<iiii", 48_000_000, 1, 0, 2013) + b"\x00" * 1_000_000)
            sock.settimeout(5)
            start = time.perf_counter()
            assert sock.recv(1) == b""  # closed by the server
            assert time.perf_counter() - start < 4
        assert server.server is not None and not server.server.connections
        client: MongoClient[dict[str, Any]] = MongoClient(url)
        assert client.admin.command("ping")["ok"] == 1.0
        client.close()
    finally:
        server.stop()


def _resident_mib(server: ServerProcess) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc")


def test_a_declared_length_is_not_allocated_up_front(process: ServerProcess) -> None:
    """Fifty headers that each declare 48 MB, with 1 KB of body: memory follows what arrived.

    Before, the server allocated each declared length as the header came in
    (about 47 MB a connection, 2.3 GB for these fifty).
    """
    before = _resident_mib(process)
    sockets = []
    try:
        for _ in range(50):
            sock = socket.create_connection(_address(process.url), timeout=10)
            sock.sendall(struct.pack("<iiii", 48_000_000, 1, 0, 2013) + b"\x00" * 1024)
            sockets.append(sock)
        client: MongoClient[dict[str, Any]] = MongoClient(process.url)
        assert client.admin.command("serverStatus")["connections"]["current"] >= 51
        client.close()
        grown = _resident_mib(process) - before
    finally:
        for sock in sockets:
            sock.close()
    assert grown < 200, f"the server grew {grown:.0f} MiB"


async def test_binding_beyond_loopback_warns_and_names_the_bound_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = MongoServer(ServerConfig(host="0.0.0.0", port=0))
    url = await server.start()
    try:
        assert url == f"mongodb://0.0.0.0:{server.port}/"
        assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    finally:
        await server.stop()
    local = MongoServer(ServerConfig(host="127.0.0.1", port=0))
    assert (await local.start()).startswith("mongodb://127.0.0.1:")
    await local.stop()
    assert "warning" not in capsys.readouterr().err


# One $reduce over a 20,000-element $range per document: tens of milliseconds each.
_SLOW = {"$expr": {"$gte": [{"$reduce": {"input": {"$range": [0, 20000]}, "initialValue": 0, "in": {"$add": ["$$value", "$$this"]}}}, 0]}}  # fmt: skip


@pytest.mark.parametrize("kind", ["read", "write"])
def test_sigterm_stops_the_server_within_seconds_during_a_long_command(
    tmp_path: Any, kind: str
) -> None:
    server = ServerProcess(data_dir=tmp_path)
    client: MongoClient[dict[str, Any]] = MongoClient(
        server.start(), serverSelectionTimeoutMS=2000, retryReads=False, retryWrites=False
    )
    client.app.c.insert_many([{"_id": i} for i in range(400)])  # about 20 s of work
    outcome: list[BaseException | None] = []

    def long_command() -> None:
        try:
            if kind == "read":
                list(client.app.c.find(_SLOW))
            else:
                client.app.c.update_many(_SLOW, {"$set": {"x": 1}})
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=long_command)
    worker.start()
    time.sleep(1.0)
    assert server.process is not None
    process = server.process
    start = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    stopped_after = time.perf_counter() - start
    worker.join(30)
    client.close()
    server.kill()
    assert stopped_after < 5.0
    assert process.returncode == 0
    assert outcome and outcome[0] is not None  # the command did not finish its 20 s of work
    with ServerProcess(data_dir=tmp_path) as restarted:  # the journal is intact
        again: MongoClient[dict[str, Any]] = MongoClient(restarted.url)
        assert again.app.c.count_documents({}) == 400
        again.close()
