"""The durable journal: group-committed, checksummed records plus periodic checkpoints.

Files in the data directory::

    mongod.lock          exclusive flock: one server per directory
    checkpoint.<G>       the full state as of generation G (written to .tmp, fsynced, renamed)
    journal.<G>          records appended after checkpoint G was started

Every record is ``length (4 bytes LE) | crc32 (4 bytes LE) | BSON``. Appends
that arrive while an fsync is running are written and fsynced together (group
commit); ``append`` returns only once its record is on disk.

A checkpoint first switches appends to ``journal.<G+1>``, then writes
``checkpoint.<G+1>`` in the background, then deletes generation G. Recovery
loads the newest complete checkpoint and replays every journal of that
generation or later, in order, so a crash at any point loses nothing. An
incomplete final record (a torn write) is cut off; damage followed by more
records is reported as corruption rather than silently skipped.
"""

import asyncio
import contextlib
import fcntl
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import bson

from ..wire import CODEC_OPTIONS

__all__ = ["DataDirLockedError", "Journal", "JournalCorruptError", "Recovered"]

_FRAME = struct.Struct("<II")
_CHUNK_BYTES = 4 * 1024 * 1024


class DataDirLockedError(Exception):
    """Another server already uses this data directory."""


class JournalCorruptError(Exception):
    """A journal or checkpoint is damaged somewhere other than its last record."""


@dataclass
class Recovered:
    """What a restart must replay."""

    checkpoint: dict[str, Any] | None
    records: list[dict[str, Any]] = field(default_factory=list)
    torn_bytes: int = 0


def _frame(record: Mapping[str, Any]) -> bytes:
    payload = bson.encode(record, codec_options=CODEC_OPTIONS)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _read_records(data: bytes, source: Path) -> tuple[list[dict[str, Any]], int]:
    """Records in ``data`` and the offset where valid data ends."""
    records: list[dict[str, Any]] = []
    offset = 0
    while offset < len(data):
        if offset + _FRAME.size > len(data):
            return records, offset
        length, checksum = _FRAME.unpack_from(data, offset)
        end = offset + _FRAME.size + length
        payload = data[offset + _FRAME.size : end]
        valid = end <= len(data) and zlib.crc32(payload) == checksum
        if valid:
            try:
                records.append(bson.decode(payload, CODEC_OPTIONS))
            except Exception:
                valid = False
        if not valid:
            if end < len(data) and _has_valid_record_after(data, end):
                raise JournalCorruptError(f"{source} is damaged at byte {offset}")
            return records, offset
        offset = end
    return records, offset


def _has_valid_record_after(data: bytes, offset: int) -> bool:
    if offset + _FRAME.size > len(data):
        return False
    length, checksum = _FRAME.unpack_from(data, offset)
    payload = data[offset + _FRAME.size : offset + _FRAME.size + length]
    return bool(len(payload) == length and zlib.crc32(payload) == checksum)


def _generations(data_dir: Path, prefix: str) -> list[int]:
    found = []
    for path in data_dir.glob(f"{prefix}.*"):
        suffix = path.name[len(prefix) + 1 :]
        if suffix.isdigit():
            found.append(int(suffix))
    return sorted(found)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_checkpoint(path: Path) -> dict[str, Any]:
    records, end = _read_records(path.read_bytes(), path)
    if not records or records[-1].get("type") != "end" or end != path.stat().st_size:
        raise JournalCorruptError(f"checkpoint {path} is incomplete")
    state: dict[str, Any] = dict(records[0].get("scalars", {}))
    for record in records[1:-1]:
        state.setdefault(record["key"], []).extend(record["items"])
    for key in records[0].get("lists", ()):
        state.setdefault(key, [])
    return state


def _checkpoint_frames(state: Mapping[str, Any]) -> Iterator[bytes]:
    scalars = {k: v for k, v in state.items() if not isinstance(v, list)}
    lists = [k for k, v in state.items() if isinstance(v, list)]
    yield _frame({"type": "header", "scalars": scalars, "lists": lists})
    for key in lists:
        chunk: list[Any] = []
        size = 0
        for item in state[key]:
            item_size = len(bson.encode({"i": item}, codec_options=CODEC_OPTIONS))
            if chunk and size + item_size > _CHUNK_BYTES:
                yield _frame({"key": key, "items": chunk})
                chunk, size = [], 0
            chunk.append(item)
            size += item_size
        if chunk:
            yield _frame({"key": key, "items": chunk})
    yield _frame({"type": "end"})


class Journal:
    """Durable, ordered, group-committed records in a data directory."""

    def __init__(self, data_dir: Path, lock: IO[bytes], generation: int) -> None:
        self.data_dir = data_dir
        self._lock = lock
        self.generation = generation
        self._file: IO[bytes] = open(self._journal_path(generation), "ab")  # noqa: SIM115
        # Each queued frame remembers its file, so a checkpoint's switch to a new
        # journal never moves a record that the checkpoint's state already holds.
        self._pending: list[tuple[IO[bytes], bytes, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._bytes = self._file.tell()
        self.fsync_count = 0
        self._closed = False

    def _journal_path(self, generation: int) -> Path:
        return self.data_dir / f"journal.{generation}"

    @classmethod
    def open(cls, data_dir: Path) -> tuple["Journal", Recovered]:
        """Lock the directory, recover what it holds, and get ready to append."""
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = open(data_dir / "mongod.lock", "a+b")  # noqa: SIM115
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise DataDirLockedError(
                f"the data directory {data_dir} is locked: another server is using it"
            ) from None
        try:
            recovered, generation = cls._recover(data_dir)
        except BaseException:
            lock.close()
            raise
        return cls(data_dir, lock, generation), recovered

    @classmethod
    def _recover(cls, data_dir: Path) -> tuple[Recovered, int]:
        for stale in data_dir.glob("checkpoint.*.tmp"):
            stale.unlink()
        checkpoints = _generations(data_dir, "checkpoint")
        base = checkpoints[-1] if checkpoints else 0
        state = _load_checkpoint(data_dir / f"checkpoint.{base}") if checkpoints else None
        journals = [g for g in _generations(data_dir, "journal") if g >= base]
        recovered = Recovered(checkpoint=state)
        for i, generation in enumerate(journals):
            path = data_dir / f"journal.{generation}"
            data = path.read_bytes()
            records, end = _read_records(data, path)
            recovered.records.extend(records)
            if end < len(data):
                if i != len(journals) - 1:
                    raise JournalCorruptError(f"{path} is damaged at byte {end}")
                recovered.torn_bytes = len(data) - end
                with open(path, "r+b") as handle:
                    handle.truncate(end)
                    handle.flush()
                    os.fsync(handle.fileno())
        generation = max([base, *journals]) if journals else base
        return recovered, generation

    @property
    def bytes_since_checkpoint(self) -> int:
        return self._bytes

    def append_nowait(self, record: Mapping[str, Any]) -> asyncio.Future[None]:
        """Queue a record; the returned future resolves once it is fsynced."""
        if self._closed:
            raise RuntimeError("the journal is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        frame = _frame(record)
        self._bytes += len(frame)
        self._pending.append((self._file, frame, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return future

    async def append(self, record: Mapping[str, Any]) -> None:
        await self.append_nowait(record)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            writes: list[tuple[IO[bytes], bytes]] = []
            for handle, frame, _ in batch:
                if writes and writes[-1][0] is handle:
                    writes[-1] = (handle, writes[-1][1] + frame)
                else:
                    writes.append((handle, frame))
            try:
                await asyncio.to_thread(self._write, writes)
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                raise
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    def _write(self, writes: list[tuple[IO[bytes], bytes]]) -> None:
        for handle, data in writes:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            self.fsync_count += 1

    async def checkpoint(self, state: Mapping[str, Any]) -> None:
        """Persist ``state`` (which covers every record appended so far) and drop older files.

        The switch to a new journal happens before the first ``await``, so
        records appended while the checkpoint is written land in the new one.
        """
        old_generation = self.generation
        new_generation = old_generation + 1
        old_file = self._file
        self._file = open(self._journal_path(new_generation), "ab")  # noqa: SIM115
        self.generation = new_generation
        self._bytes = 0
        frames = list(_checkpoint_frames(state))
        await asyncio.to_thread(self._write_checkpoint, new_generation, frames)
        # Wait for batches still headed to the old journal before deleting it.
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)
        old_file.close()
        for path in (
            self.data_dir / f"checkpoint.{old_generation}",
            self._journal_path(old_generation),
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        await asyncio.to_thread(_fsync_dir, self.data_dir)

    def _write_checkpoint(self, generation: int, frames: list[bytes]) -> None:
        final = self.data_dir / f"checkpoint.{generation}"
        temporary = final.with_name(final.name + ".tmp")
        with open(temporary, "wb") as handle:
            for frame in frames:
                handle.write(frame)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        _fsync_dir(self.data_dir)

    async def close(self) -> None:
        """Flush what is pending, then release the file and the directory lock."""
        if self._closed:
            return
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await self._flusher
        if self._pending:
            await self._flush()
        self._closed = True
        self._file.close()
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()
