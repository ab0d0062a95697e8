"""MongoDB wire-protocol framing: OP_MSG and legacy OP_QUERY in, OP_MSG and OP_REPLY out.

Only framing lives here; what a command means is the dispatcher's business.
Malformed input raises :class:`ProtocolError`, which makes the server close
that one connection (as mongod does) without touching any other client.
"""

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion

__all__ = [
    "CODEC_OPTIONS",
    "HEADER",
    "MAX_BSON_OBJECT_SIZE",
    "MAX_MESSAGE_SIZE",
    "OP_COMPRESSED",
    "OP_MSG",
    "OP_QUERY",
    "ProtocolError",
    "Request",
    "encode_msg",
    "encode_reply",
    "parse_message",
]

HEADER = struct.Struct("<iiii")
OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000

_CHECKSUM_PRESENT = 1 << 0
MORE_TO_COME = 1 << 1
_EXHAUST_ALLOWED = 1 << 16
_KNOWN_FLAGS = _CHECKSUM_PRESENT | MORE_TO_COME | _EXHAUST_ALLOWED

_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_REPLY_PREFIX = struct.Struct("<iqii")

# Dates outside datetime's range decode as DatetimeMS instead of failing, so a
# client can store any valid BSON date; everything else keeps its exact type.
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    datetime_conversion=DatetimeConversion.DATETIME_AUTO
)


class ProtocolError(Exception):
    """The bytes on a connection are not a valid MongoDB message."""


@dataclass(slots=True)
class Request:
    """One decoded client message."""

    request_id: int
    op_code: int
    command: dict[str, Any]
    more_to_come: bool = False
    # For OP_QUERY: the database named by ``<db>.$cmd``.
    legacy_db: str | None = None
    document_sequences: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _decode_document(data: memoryview, offset: int, end: int) -> tuple[dict[str, Any], int]:
    if offset + 4 > end:
        raise ProtocolError("truncated BSON document")
    (size,) = _INT32.unpack_from(data, offset)
    if size < 5 or offset + size > end:
        raise ProtocolError(f"invalid BSON document length {size}")
    if size > MAX_BSON_OBJECT_SIZE + 16 * 1024:
        raise ProtocolError("BSON document exceeds the maximum size")
    try:
        doc = bson.decode(bytes(data[offset : offset + size]), CODEC_OPTIONS)
    except Exception as exc:  # bson raises several types for corrupt input
        raise ProtocolError(f"invalid BSON: {exc}") from None
    return doc, offset + size


def _parse_op_msg(request_id: int, body: memoryview) -> Request:
    end = len(body)
    if end < 5:
        raise ProtocolError("OP_MSG too short")
    (flags,) = _UINT32.unpack_from(body, 0)
    if flags & 0xFFFF & ~_KNOWN_FLAGS:
        raise ProtocolError(f"OP_MSG has unsupported required flag bits {flags:#x}")
    if flags & _CHECKSUM_PRESENT:
        end -= 4  # we do not advertise checksums; skip the trailing CRC-32C
    offset = 4
    command: dict[str, Any] | None = None
    sequences: dict[str, list[dict[str, Any]]] = {}
    while offset < end:
        kind = body[offset]
        offset += 1
        if kind == 0:
            if command is not None:
                raise ProtocolError("OP_MSG has more than one body section")
            command, offset = _decode_document(body, offset, end)
        elif kind == 1:
            if offset + 4 > end:
                raise ProtocolError("truncated document sequence")
            (size,) = _INT32.unpack_from(body, offset)
            seq_end = offset + size
            if size < 5 or seq_end > end:
                raise ProtocolError(f"invalid document sequence length {size}")
            name_end = bytes(body[offset + 4 : seq_end]).find(b"\x00")
            if name_end < 0:
                raise ProtocolError("unterminated document sequence identifier")
            try:
                identifier = bytes(body[offset + 4 : offset + 4 + name_end]).decode()
            except UnicodeDecodeError:
                raise ProtocolError("document sequence identifier is not UTF-8") from None
            cursor = offset + 4 + name_end + 1
            docs: list[dict[str, Any]] = []
            while cursor < seq_end:
                doc, cursor = _decode_document(body, cursor, seq_end)
                docs.append(doc)
            sequences.setdefault(identifier, []).extend(docs)
            offset = seq_end
        else:
            raise ProtocolError(f"unknown OP_MSG section kind {kind}")
    if command is None:
        raise ProtocolError("OP_MSG has no body section")
    for identifier, docs in sequences.items():
        if identifier in command:
            raise ProtocolError(f"duplicate field {identifier!r} in body and document sequence")
        command[identifier] = docs
    return Request(
        request_id,
        OP_MSG,
        command,
        more_to_come=bool(flags & MORE_TO_COME),
        document_sequences=sequences,
    )


def _parse_op_query(request_id: int, body: memoryview) -> Request:
    if len(body) < 4:
        raise ProtocolError("OP_QUERY too short")
    name_end = bytes(body[4:]).find(b"\x00")
    if name_end < 0:
        raise ProtocolError("unterminated collection name")
    try:
        namespace = bytes(body[4 : 4 + name_end]).decode()
    except UnicodeDecodeError:
        raise ProtocolError("collection name is not UTF-8") from None
    offset = 4 + name_end + 1 + 8  # skip numberToSkip and numberToReturn
    query, _ = _decode_document(body, offset, len(body))
    db, _, coll = namespace.partition(".")
    if coll != "$cmd":
        raise ProtocolError("legacy OP_QUERY is only supported for commands")
    # Drivers wrap the command as {$query: {...}, $readPreference: ...}.
    if "$query" in query and isinstance(query["$query"], dict):
        query = query["$query"]
    return Request(request_id, OP_QUERY, query, legacy_db=db)


def parse_message(header: bytes, body: bytes) -> Request:
    """Decode one message given its 16-byte header and the rest of its bytes."""
    _length, request_id, _response_to, op_code = HEADER.unpack(header)
    view = memoryview(body)
    if op_code == OP_MSG:
        return _parse_op_msg(request_id, view)
    if op_code == OP_QUERY:
        return _parse_op_query(request_id, view)
    if op_code == OP_COMPRESSED:
        raise ProtocolError("compression was not negotiated")
    raise ProtocolError(f"unsupported opcode {op_code}")


def encode_msg(request_id: int, response_to: int, reply: Mapping[str, Any]) -> bytes:
    """An OP_MSG carrying ``reply`` as its single body section."""
    payload = bson.encode(reply, codec_options=CODEC_OPTIONS)
    length = HEADER.size + 5 + len(payload)
    return b"".join(
        (
            HEADER.pack(length, request_id, response_to, OP_MSG),
            b"\x00\x00\x00\x00\x00",
            payload,
        )
    )


def encode_reply(request_id: int, response_to: int, reply: Mapping[str, Any]) -> bytes:
    """A legacy OP_REPLY answering an OP_QUERY command."""
    payload = bson.encode(reply, codec_options=CODEC_OPTIONS)
    length = HEADER.size + _REPLY_PREFIX.size + len(payload)
    return b"".join(
        (
            HEADER.pack(length, request_id, response_to, OP_REPLY),
            _REPLY_PREFIX.pack(0, 0, 0, 1),
            payload,
        )
    )
