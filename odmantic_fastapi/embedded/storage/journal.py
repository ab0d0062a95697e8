"""The durable journal: group-committed records, periodic checkpoints, and recovery from storage faults.

Files in the data directory (created 0700; every file 0600)::

    mongod.lock          exclusive flock: one server per directory
    checkpoint.<G>       the full state as of generation G (written to .tmp, fsynced, renamed)
    journal.<G>          records appended after checkpoint G was started

Appends that arrive while an fsync is running are written and fsynced
together (group commit); an append's future resolves only once its record is
on disk. When a write or fsync fails (ENOSPC, EDQUOT, EIO, ...), the file is
cut back to the end of its last fsynced record, every record not yet durable
fails with :class:`JournalWriteError`, and ``on_failure`` lets the server roll
its memory back to what the files hold (``read_durable``). The next append
tries the disk again, so writes resume once space returns.

A checkpoint first switches appends to ``journal.<G+1>``, then writes
``checkpoint.<G+1>`` in the background, then deletes older generations; it is
abandoned (and the older files kept) if its own write fails or if a record it
already holds fails to reach the old journal. Recovery loads the newest
complete checkpoint and replays every journal of that generation or later, in
order. A torn final record is cut; damage followed by intact records stops
startup (see :mod:`.frames`) unless ``repair`` keeps the intact prefix.
"""

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .fileops import FileOps
from .frames import JournalCorruptError, checkpoint_frames, frame, load_checkpoint, read_records

__all__ = [
    "DataDirError",
    "DataDirLockedError",
    "Journal",
    "JournalCorruptError",
    "JournalWriteError",
    "Recovered",
]

log = logging.getLogger("odmantic_fastapi.embedded")


class DataDirError(Exception):
    """The data directory cannot be used (missing permissions, read-only, not a directory)."""


class DataDirLockedError(DataDirError):
    """Another server already uses this data directory."""


class JournalWriteError(Exception):
    """A record could not be made durable; ``os_error`` says why (errno.ENOSPC, ...)."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(f"the journal could not be written: {os_error}")
        self.os_error = os_error

    @property
    def out_of_space(self) -> bool:
        return self.os_error.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass
class Recovered:
    """What a restart (or a rollback after a failed write) must replay."""

    checkpoint: dict[str, Any] | None
    records: list[dict[str, Any]] = field(default_factory=list)
    torn_bytes: int = 0
    # What ``repair`` dropped: (file, offset, bytes, intact records among them).
    repaired: list[tuple[Path, int, int, int]] = field(default_factory=list)


def _generations(data_dir: Path, prefix: str) -> list[int]:
    found = []
    for path in data_dir.glob(f"{prefix}.*"):
        suffix = path.name[len(prefix) + 1 :]
        if suffix.isdigit():
            found.append(int(suffix))
    return sorted(found)


def prepare_data_dir(data_dir: Path) -> None:
    """Create the directory (0700) or check an existing one; raises DataDirError with the cause."""
    if data_dir.exists() and not data_dir.is_dir():
        raise DataDirError(f"the data directory {data_dir} is not a directory")
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create the data directory {data_dir}: {exc.strerror}") from None
    if not os.access(data_dir, os.R_OK | os.X_OK):
        raise DataDirError(f"the data directory {data_dir} is not readable by this user")
    probe = data_dir / ".write-test"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        reason = "is on a read-only file system" if exc.errno == errno.EROFS else "is not writable"
        raise DataDirError(f"the data directory {data_dir} {reason} ({exc.strerror})") from None


class Journal:
    """Durable, ordered, group-committed records in a data directory."""

    def __init__(
        self, data_dir: Path, lock: IO[bytes], generation: int, files: FileOps | None = None
    ) -> None:
        self.data_dir = data_dir
        self.files = files or FileOps()
        self._lock = lock
        self.generation = generation
        self._fd = self.files.open_append(self._journal_path(generation))
        # The end of the last fsynced record of each open file: where a failed write is cut back to.
        self._good: dict[int, int] = {self._fd: self.files.size(self._fd)}
        self._paths: dict[int, Path] = {self._fd: self._journal_path(generation)}
        # Each queued frame remembers its file, so a checkpoint's switch to a new
        # journal never moves a record that the checkpoint's state already holds.
        self._pending: list[tuple[int, bytes, asyncio.Future[None]]] = []
        self._in_flight: list[tuple[int, bytes, asyncio.Future[None]]] = []
        # Files whose cut-back failed: cut again before anything else is written.
        self._dirty: set[int] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._bytes = self._good[self._fd]
        self.fsync_count = 0
        self.failure_count = 0
        self.on_failure: Callable[[JournalWriteError], None] | None = None
        self._closed = False

    def _journal_path(self, generation: int) -> Path:
        return self.data_dir / f"journal.{generation}"

    @classmethod
    def open(cls, data_dir: Path, *, repair: bool = False) -> tuple["Journal", Recovered]:
        """Lock the directory, recover what it holds, and get ready to append."""
        prepare_data_dir(data_dir)
        lock = open(data_dir / "mongod.lock", "a+b")  # noqa: SIM115
        os.chmod(data_dir / "mongod.lock", 0o600)
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise DataDirLockedError(
                f"the data directory {data_dir} is locked: another server is using it"
            ) from None
        try:
            for stale in data_dir.glob("checkpoint.*.tmp"):
                stale.unlink()
            recovered, generation = _read_generations(data_dir, cut=True, repair=repair)
            return cls(data_dir, lock, generation), recovered
        except BaseException:
            lock.close()
            raise

    def read_durable(self) -> Recovered:
        """What the files hold now, up to each open file's last fsynced record."""
        recovered, _ = _read_generations(self.data_dir, limits=self._limits_by_path())
        return recovered

    def _limits_by_path(self) -> dict[Path, int]:
        return {self._paths[fd]: good for fd, good in self._good.items()}

    @property
    def bytes_since_checkpoint(self) -> int:
        return self._bytes

    def append_nowait(self, record: Mapping[str, Any]) -> asyncio.Future[None]:
        """Queue a record; the returned future resolves once it is fsynced."""
        if self._closed:
            raise RuntimeError("the journal is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        data = frame(record)
        self._bytes += len(data)
        self._pending.append((self._fd, data, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return future

    async def append(self, record: Mapping[str, Any]) -> None:
        await self.append_nowait(record)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            self._in_flight = batch
            writes: list[tuple[int, bytes]] = []
            for fd, data, _ in batch:
                if writes and writes[-1][0] == fd:
                    writes[-1] = (fd, writes[-1][1] + data)
                else:
                    writes.append((fd, data))
            try:
                await asyncio.to_thread(self._write, writes)
            except OSError as exc:
                self._fail(batch, JournalWriteError(exc))
                continue
            finally:
                self._in_flight = []
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    def _fail(
        self, batch: list[tuple[int, bytes, asyncio.Future[None]]], error: JournalWriteError
    ) -> None:
        """Fail this batch and everything queued after it, which may depend on it."""
        failed = batch + self._pending
        self._pending = []
        self.failure_count += 1
        self._bytes = max(0, self._bytes - sum(len(data) for _, data, _ in failed))
        log.error("%s; the writes it held were not applied", error)
        if self.on_failure is not None:
            self.on_failure(error)
        for _, _, future in failed:
            if not future.done():
                future.set_exception(error)

    def _write(self, writes: list[tuple[int, bytes]]) -> None:
        """Write and fsync each file's data, or cut the files back to their last good end."""
        for fd in list(self._dirty):
            self._cut_back(fd)
            self._dirty.discard(fd)
        try:
            for fd, data in writes:
                self.files.write(fd, data)
                self.files.fsync(fd)
                self.fsync_count += 1
                self._good[fd] += len(data)
        except OSError:
            for fd, _ in writes:
                try:
                    self._cut_back(fd)
                except OSError:
                    self._dirty.add(fd)
            raise

    def _cut_back(self, fd: int) -> None:
        good = self._good[fd]
        if self.files.size(fd) != good:
            self.files.truncate(fd, good)
            self.files.fsync(fd)

    def checkpoint(self, state: Mapping[str, Any]) -> Coroutine[Any, Any, bool]:
        """Persist ``state`` (which covers every record appended so far) and drop older files.

        The switch to a new journal happens in this call, before anything is
        awaited, so records appended while the checkpoint is written land in
        the new one. Awaiting the result writes the checkpoint and says whether
        it was kept; on any failure the older generations stay and recovery
        still finds every durable record.
        """
        old_fd = self._fd
        new_generation = self.generation + 1
        failures_before = self.failure_count
        path = self._journal_path(new_generation)
        try:
            new_fd = self.files.open_append(path)
        except OSError as exc:
            log.warning("checkpoint postponed: cannot create %s: %s", path, exc)
            return _kept(False)
        unsynced = [
            future
            for fd, _, future in self._in_flight + self._pending
            if fd == old_fd and not future.done()
        ]
        self._fd, self.generation, self._bytes = new_fd, new_generation, 0
        self._good[new_fd] = 0
        self._paths[new_fd] = path
        frames = list(checkpoint_frames(state))
        return self._write_generation(old_fd, new_generation, frames, unsynced, failures_before)

    async def _write_generation(
        self,
        old_fd: int,
        new_generation: int,
        frames: list[bytes],
        unsynced: list[asyncio.Future[None]],
        failures_before: int,
    ) -> bool:
        temporary = self.data_dir / f"checkpoint.{new_generation}.tmp"
        try:
            await asyncio.to_thread(self._write_checkpoint, temporary, frames)
        except OSError as exc:
            log.warning("checkpoint %d abandoned: %s", new_generation, exc)
            with contextlib.suppress(OSError):
                temporary.unlink()
            return False
        # Wait for records still headed to the old journal: the state holds them.
        if unsynced:
            await asyncio.gather(*unsynced, return_exceptions=True)
        if self.failure_count != failures_before:
            log.warning(
                "checkpoint %d abandoned: a record it holds was not durable", new_generation
            )
            with contextlib.suppress(OSError):
                temporary.unlink()
            return False
        try:
            await asyncio.to_thread(self._publish_checkpoint, temporary, new_generation)
        except OSError as exc:
            log.warning("checkpoint %d abandoned: %s", new_generation, exc)
            return False
        self._forget(old_fd)
        return True

    def _write_checkpoint(self, temporary: Path, frames: list[bytes]) -> None:
        fd = self.files.open_new(temporary)
        try:
            for data in frames:
                self.files.write(fd, data)
            self.files.fsync(fd)
        finally:
            self.files.close(fd)

    def _publish_checkpoint(self, temporary: Path, generation: int) -> None:
        self.files.replace(temporary, self.data_dir / f"checkpoint.{generation}")
        self.files.fsync_dir(self.data_dir)
        for prefix in ("checkpoint", "journal"):
            for older in _generations(self.data_dir, prefix):
                if older < generation:
                    with contextlib.suppress(FileNotFoundError):
                        (self.data_dir / f"{prefix}.{older}").unlink()
        self.files.fsync_dir(self.data_dir)

    def _forget(self, fd: int) -> None:
        if fd == self._fd:
            return
        self._good.pop(fd, None)
        self._paths.pop(fd, None)
        with contextlib.suppress(OSError):
            self.files.close(fd)

    async def close(self) -> None:
        """Flush what is pending, then release the files and the directory lock."""
        if self._closed:
            return
        while self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await self._flusher
        if self._pending:
            await self._flush()
        self._closed = True
        for fd in list(self._good):
            with contextlib.suppress(OSError):
                self.files.close(fd)
        self._good.clear()
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()


def _read_generations(
    data_dir: Path,
    *,
    cut: bool = False,
    repair: bool = False,
    limits: Mapping[Path, int] | None = None,
) -> tuple[Recovered, int]:
    """The newest complete checkpoint and the journals after it.

    ``cut`` truncates a torn final record (at startup); ``repair`` also keeps
    only the intact prefix of a damaged journal, moving what it drops aside;
    ``limits`` reads open files only up to their last fsynced record.
    """
    checkpoints = _generations(data_dir, "checkpoint")
    base = checkpoints[-1] if checkpoints else 0
    state = load_checkpoint(data_dir / f"checkpoint.{base}") if checkpoints else None
    journals = [g for g in _generations(data_dir, "journal") if g >= base]
    recovered = Recovered(checkpoint=state)
    for i, generation in enumerate(journals):
        path = data_dir / f"journal.{generation}"
        data = path.read_bytes()
        if limits is not None and path in limits:
            data = data[: limits[path]]
        # A crash mid-checkpoint can leave a torn record before a new, empty journal.
        last = all((data_dir / f"journal.{g}").stat().st_size == 0 for g in journals[i + 1 :])
        result = read_records(data, path, allow_damage=repair)
        recovered.records.extend(result.records)
        if result.end == len(data):
            continue
        if result.records_after_damage == 0 and last:
            recovered.torn_bytes = len(data) - result.end
        elif not repair:
            detail = "it is not the last journal, and later journals depend on it"
            raise JournalCorruptError(path, result.end, detail)
        else:
            _set_aside(path, data, result.end, result.records_after_damage, recovered)
            for later in journals[i + 1 :]:
                dropped = data_dir / f"journal.{later}"
                size = dropped.stat().st_size
                dropped.rename(dropped.with_name(dropped.name + ".dropped"))
                recovered.repaired.append((dropped, 0, size, -1))
            journals = journals[: i + 1]
            break
        if cut:
            _truncate(path, result.end)
    generation = max([base, *journals]) if journals else base
    return recovered, generation


async def _kept(kept: bool) -> bool:
    return kept


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())


def _set_aside(path: Path, data: bytes, offset: int, intact: int, recovered: Recovered) -> None:
    aside = path.with_name(f"{path.name}.dropped-at-{offset}")
    aside.write_bytes(data[offset:])
    os.chmod(aside, 0o600)
    _truncate(path, offset)
    recovered.repaired.append((path, offset, len(data) - offset, intact))
