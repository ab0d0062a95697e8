"""The journal's on-disk format: checksummed frames, reading them back, and telling a torn tail from damage.

Every record is ``length (4 bytes LE) | crc32 (4 bytes LE) | BSON``. A crash
can leave the last record incomplete (a torn tail), which recovery may cut.
Anything else that fails its checksum is damage: reading stops there and names
the byte offset, because the intact records after it must not be dropped
silently.
"""

import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson

from ..wire import CODEC_OPTIONS

__all__ = [
    "JournalCorruptError",
    "ReadResult",
    "checkpoint_frames",
    "frame",
    "load_checkpoint",
    "read_records",
]

_FRAME = struct.Struct("<II")
_INT32 = struct.Struct("<i")
_CHUNK_BYTES = 4 * 1024 * 1024


class JournalCorruptError(Exception):
    """A journal or checkpoint is damaged somewhere other than its last record."""

    def __init__(self, path: Path, offset: int, detail: str) -> None:
        super().__init__(f"{path} is damaged at byte {offset}: {detail}")
        self.path = path
        self.offset = offset


@dataclass
class ReadResult:
    """The records of one file, where the intact prefix ends, and what follows it."""

    records: list[dict[str, Any]]
    end: int
    # Intact records found after the damage (0 for a clean file or a torn tail).
    records_after_damage: int = 0


def frame(record: Mapping[str, Any]) -> bytes:
    payload = bson.encode(record, codec_options=CODEC_OPTIONS)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _record_at(data: bytes, offset: int) -> tuple[dict[str, Any], int] | None:
    """The intact record starting at ``offset`` and its end, or None."""
    if offset + _FRAME.size + 5 > len(data):
        return None
    length, checksum = _FRAME.unpack_from(data, offset)
    start = offset + _FRAME.size
    end = start + length
    # A BSON document starts with its own length: a cheap test before the checksum.
    if end > len(data) or length < 5 or _INT32.unpack_from(data, start)[0] != length:
        return None
    payload = data[start:end]
    if zlib.crc32(payload) != checksum:
        return None
    try:
        return bson.decode(payload, CODEC_OPTIONS), end
    except Exception:
        return None


def _records_after(data: bytes, offset: int) -> int:
    """How many intact records follow ``offset`` (found by scanning byte by byte)."""
    count = 0
    position = offset + 1
    while position < len(data):
        found = _record_at(data, position)
        if found is None:
            position += 1
            continue
        count += 1
        position = found[1]
    return count


def read_records(data: bytes, source: Path, *, allow_damage: bool = False) -> ReadResult:
    """Every intact record of ``data`` in order, up to the first bad frame.

    A bad frame with no intact record anywhere after it is a torn tail. One
    followed by intact records raises :class:`JournalCorruptError`, unless
    ``allow_damage`` (repair) asks for the prefix and a count of what follows.
    """
    records: list[dict[str, Any]] = []
    offset = 0
    while offset < len(data):
        found = _record_at(data, offset)
        if found is None:
            after = _records_after(data, offset)
            if after and not allow_damage:
                raise JournalCorruptError(
                    source, offset, f"{after} intact records follow the damaged one"
                )
            return ReadResult(records, offset, after)
        records.append(found[0])
        offset = found[1]
    return ReadResult(records, offset)


def load_checkpoint(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    result = read_records(data, path)
    records = result.records
    if not records or records[-1].get("type") != "end" or result.end != len(data):
        raise JournalCorruptError(path, result.end, "the checkpoint is incomplete")
    state: dict[str, Any] = dict(records[0].get("scalars", {}))
    for record in records[1:-1]:
        state.setdefault(record["key"], []).extend(record["items"])
    for key in records[0].get("lists", ()):
        state.setdefault(key, [])
    return state


def checkpoint_frames(state: Mapping[str, Any]) -> Iterator[bytes]:
    scalars = {k: v for k, v in state.items() if not isinstance(v, list)}
    lists = [k for k, v in state.items() if isinstance(v, list)]
    yield frame({"type": "header", "scalars": scalars, "lists": lists})
    for key in lists:
        chunk: list[Any] = []
        size = 0
        for item in state[key]:
            item_size = len(bson.encode({"i": item}, codec_options=CODEC_OPTIONS))
            if chunk and size + item_size > _CHUNK_BYTES:
                yield frame({"key": key, "items": chunk})
                chunk, size = [], 0
            chunk.append(item)
            size += item_size
        if chunk:
            yield frame({"key": key, "items": chunk})
    yield frame({"type": "end"})
