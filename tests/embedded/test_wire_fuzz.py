"""Malformed input on one connection never disturbs the server or its other clients."""

import random
import socket
import struct
from typing import Any

import bson
import pytest
from pymongo import MongoClient
from pymongo.database import Database


def _address(url: str) -> tuple[str, int]:
    host_port = url.split("//", 1)[1].strip("/").split(",")[0]
    host, port = host_port.rsplit(":", 1)
    return host, int(port)


def _send(address: tuple[str, int], payload: bytes) -> None:
    with socket.create_connection(address, timeout=2) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(0.2)
            while sock.recv(65536):
                pass
        except OSError:
            pass


def _op_msg(body: bytes, *, length: int | None = None, opcode: int = 2013) -> bytes:
    total = 16 + len(body) if length is None else length
    return struct.pack("<iiii", total, 1, 0, opcode) + body


def test_random_and_truncated_messages_leave_other_clients_served(
    db: Database[Any], mongodb_url: str
) -> None:
    address = _address(mongodb_url)
    rng = random.Random(1234)
    good = bson.encode({"ping": 1, "$db": "admin"})
    db.c.insert_one({"_id": "canary"})
    probe: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    cases: list[bytes] = [
        b"",
        b"\x00" * 3,
        _op_msg(b"", length=-5),
        _op_msg(b"", length=2**31 - 1),
        _op_msg(b"\x00\x00\x00\x00", opcode=1),
        _op_msg(b"\x00\x00\x00\x00\x00" + good[:-3]),
        _op_msg(b"\x00\x00\x00\x00\x07" + good),
        _op_msg(b"\x00\x00\x00\x00\x01" + struct.pack("<i", 999) + b"x"),
        _op_msg(b"\x00\x00\x00\x00\x00" + struct.pack("<i", 5) + b"\x00"),
        _op_msg(b"\xff\xff\x00\x00\x00" + good),
        _op_msg(b"\x00\x00\x00\x00\x00" + bson.encode({"$db": "admin"})),
        _op_msg(b"\x00\x00\x00\x00\x00" + bson.encode({"find": 5, "$db": 7})),
    ]
    for _ in range(300):
        noise = rng.randbytes(rng.randint(1, 200))
        cases.append(noise)
        cases.append(_op_msg(b"\x00\x00\x00\x00\x00" + noise))
        flipped = bytearray(_op_msg(b"\x00\x00\x00\x00\x00" + good))
        flipped[rng.randrange(16, len(flipped))] ^= 1 << rng.randrange(8)
        cases.append(bytes(flipped))
    try:
        for i, payload in enumerate(cases):
            _send(address, payload)
            if i % 50 == 0:
                assert probe.admin.command("ping")["ok"] == 1.0
        assert db.c.find_one({"_id": "canary"}) == {"_id": "canary"}
        assert probe.admin.command("ping")["ok"] == 1.0
    finally:
        probe.close()


@pytest.mark.slow
def test_ten_thousand_hostile_messages_never_stop_service(
    db: Database[Any], mongodb_url: str
) -> None:
    """10,000 random, truncated, oversized or bit-flipped messages, each on its own connection."""
    address = _address(mongodb_url)
    rng = random.Random(99)
    good = _op_msg(
        b"\x00\x00\x00\x00\x00" + bson.encode({"find": "c", "filter": {}, "$db": db.name})
    )
    db.c.insert_one({"_id": "canary"})
    probe: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    try:
        for i in range(10_000):
            kind = i % 4
            if kind == 0:
                payload = rng.randbytes(rng.randint(1, 64))
            elif kind == 1:
                payload = good[: rng.randrange(1, len(good))]
            elif kind == 2:
                payload = _op_msg(b"\x00" * 5, length=rng.choice([17, 48_000_001, 2**31 - 1, -1]))
            else:
                flipped = bytearray(good)
                flipped[rng.randrange(16, len(flipped))] ^= 1 << rng.randrange(8)
                payload = bytes(flipped)
            _send(address, payload)
            if i % 1000 == 0:
                assert db.c.find_one({"_id": "canary"}) == {"_id": "canary"}
        assert probe.admin.command("ping")["ok"] == 1.0
        assert db.c.find_one({"_id": "canary"}) == {"_id": "canary"}
    finally:
        probe.close()
