"""A do-nothing OP_MSG responder: the fastest any Python wire server can answer pymongo here.

It decodes each request with bson and encodes a canned reply, nothing else, so
its round-trip rate is the floor the embedded server is measured against.
Run: ``python bench/floor_responder.py`` (prints its URL, serves until killed).
"""

import asyncio
import datetime
import struct
import sys
from typing import Any

import bson
from bson import Int64, ObjectId

__all__ = ["main"]

HEADER = struct.Struct("<iiii")
_INT = struct.Struct("<i")


def _reply(cmd: dict[str, Any], port: int) -> dict[str, Any]:
    name = next(iter(cmd))
    if name.lower() in ("hello", "ismaster"):
        return {
            "isWritablePrimary": True,
            "ismaster": True,
            "setName": "rs0",
            "hosts": [f"127.0.0.1:{port}"],
            "primary": f"127.0.0.1:{port}",
            "me": f"127.0.0.1:{port}",
            "electionId": ObjectId("7fffffff0000000000000001"),
            "setVersion": 1,
            "maxBsonObjectSize": 16777216,
            "maxMessageSizeBytes": 48000000,
            "maxWriteBatchSize": 100000,
            "localTime": datetime.datetime.now(datetime.UTC),
            "logicalSessionTimeoutMinutes": 30,
            "minWireVersion": 0,
            "maxWireVersion": 21,
            "ok": 1.0,
        }
    if name == "find":
        doc = {"_id": cmd.get("filter", {}).get("_id"), "value": 1}
        return {"cursor": {"firstBatch": [doc], "id": Int64(0), "ns": "bench.c"}, "ok": 1.0}
    return {"n": 1, "ok": 1.0}


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
    try:
        while True:
            header = await reader.readexactly(16)
            length, request_id, _, _ = HEADER.unpack(header)
            body = await reader.readexactly(length - 16)
            # Flag bits, then the kind-0 section; document sequences (kind 1:
            # insert's documents, update's updates) follow it and are skipped.
            (size,) = _INT.unpack_from(body, 5)
            cmd = bson.decode(body[5 : 5 + size])
            payload = bson.encode(_reply(cmd, port))
            writer.write(
                HEADER.pack(16 + 5 + len(payload), 0, request_id, 2013) + b"\x00" * 5 + payload
            )
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main() -> None:
    port_holder: list[int] = []
    server = await asyncio.start_server(lambda r, w: _serve(r, w, port_holder[0]), "127.0.0.1", 0)
    port_holder.append(server.sockets[0].getsockname()[1])
    print(f"mongodb://127.0.0.1:{port_holder[0]}/", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
