"""Talking to the server below the driver: one OP_MSG with a session id of our choosing."""

import socket
import struct
from typing import Any

import bson

__all__ = ["raw_command"]


def raw_command(url: str, command: dict[str, Any]) -> dict[str, Any]:
    """Send one OP_MSG ourselves, so the session id is ours and not the driver's."""
    host, port = url.split("//", 1)[1].strip("/").rsplit(":", 1)
    payload = b"\x00\x00\x00\x00\x00" + bson.encode(command)
    message = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(message)
        header = sock.recv(16, socket.MSG_WAITALL)
        length = struct.unpack("<i", header[:4])[0]
        body = b""
        while len(body) < length - 16:
            body += sock.recv(length - 16 - len(body))
    return bson.decode(body[5:])
