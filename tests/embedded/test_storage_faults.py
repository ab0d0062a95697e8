"""Storage faults at the OS boundary: a write the journal cannot make durable is not applied.

The journal's file operations fail here as a full, over-quota or broken disk
fails them (ENOSPC after a partial write, EDQUOT, EIO from fsync). For every
kind of write the client gets a clear error, the server's memory and indexes
are as before, reads keep working, the same write succeeds once the disk
recovers, and a restart finds exactly what was acknowledged.
"""

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from odmantic_fastapi.embedded import EmbeddedServer, ServerProcess
from odmantic_fastapi.embedded.storage.fileops import FileOps
from odmantic_fastapi.embedded.storage.frames import frame
from odmantic_fastapi.embedded.storage.journal import Journal

from ._wire import raw_command


class FailingDisk(FileOps):
    """File operations that fail on demand: ``write`` after writing half, or ``fsync``."""

    def __init__(self) -> None:
        self.error: int | None = None
        self.during = "write"
        self.failures = 0

    def _fail(self) -> None:
        assert self.error is not None
        self.failures += 1
        raise OSError(self.error, os.strerror(self.error))

    def write(self, fd: int, data: bytes) -> None:
        if self.error is not None and self.during == "write":
            super().write(fd, data[: len(data) // 2])  # a torn frame, as a full disk leaves
            self._fail()
        super().write(fd, data)

    def fsync(self, fd: int) -> None:
        if self.error is not None and self.during == "fsync":
            self._fail()
        super().fsync(fd)


class Harness:
    """A durable server in this process, its disk, and a client."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.disk = FailingDisk()
        self.server = EmbeddedServer(data_dir=data_dir)
        self.client: MongoClient[dict[str, Any]] | None = None

    def start(self) -> Database[dict[str, Any]]:
        url = self.server.start()
        assert self.server.server is not None and self.server.server.journal is not None
        journal: Journal = self.server.server.journal
        journal.files = self.disk
        self.client = MongoClient(url, serverSelectionTimeoutMS=5000)
        return self.client.app

    def restart(self) -> Database[dict[str, Any]]:
        self.stop()
        self.server = EmbeddedServer(data_dir=self.data_dir)
        return self.start()

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.server.stop()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.stop()


def _state(db: Database[dict[str, Any]]) -> dict[str, Any]:
    """Everything a write could change: documents, indexes (answering queries) and collections."""
    names = sorted(db.list_collection_names())
    return {
        "collections": names,
        "documents": {name: list(db[name].find().sort("_id")) for name in names},
        "indexes": {name: sorted(db[name].index_information()) for name in names},
        "by_index": list(db.items.find({"x": {"$gte": 0}}).sort("_id")),
    }


def _commit(db: Database[dict[str, Any]]) -> None:
    assert db.client is not None
    with db.client.start_session() as session:
        session.start_transaction()
        db.items.insert_one({"_id": 100, "x": 100}, session=session)
        db.items.update_one({"_id": 1}, {"$inc": {"x": 10}}, session=session)
        session.commit_transaction()


WRITES: dict[str, Callable[[Database[dict[str, Any]]], Any]] = {
    "insert": lambda db: db.items.insert_many([{"_id": 100, "x": 100}, {"_id": 101, "x": 101}]),
    "update": lambda db: db.items.update_many({}, {"$inc": {"x": 1}}),
    "delete": lambda db: db.items.delete_one({"_id": 1}),
    "findAndModify": lambda db: db.items.find_one_and_update({"_id": 2}, {"$set": {"x": -2}}),
    "commitTransaction": _commit,
    "createIndexes": lambda db: db.items.create_index("y"),
    "drop": lambda db: db.items.drop(),
}


def _seed(db: Database[dict[str, Any]]) -> None:
    db.items.insert_many([{"_id": i, "x": i} for i in range(5)])
    db.items.create_index("x")
    db.other.insert_one({"_id": "kept"})


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_a_write_that_cannot_be_journalled_is_not_applied(harness: Harness, kind: str) -> None:
    db = harness.start()
    _seed(db)
    before = _state(db)
    harness.disk.error = errno.ENOSPC
    with pytest.raises(OperationFailure) as info:
        WRITES[kind](db)
    assert info.value.code == 14031
    assert "out of space" in str(info.value)
    assert harness.disk.failures >= 1
    assert _state(db) == before  # memory and indexes as if the write never happened
    assert db.other.find_one({"_id": "kept"}) == {"_id": "kept"}  # reads keep working

    harness.disk.error = None  # space returns
    WRITES[kind](db)
    after = _state(db)
    assert after != before
    assert _state(harness.restart()) == after  # durable, and nothing else came back


@pytest.mark.parametrize(
    ("during", "error", "code"),
    [("fsync", errno.EIO, 1), ("write", errno.EDQUOT, 14031), ("fsync", errno.ENOSPC, 14031)],
)
@pytest.mark.parametrize("kind", ["insert", "commitTransaction"])
def test_io_errors_and_quota_are_handled_like_a_full_disk(
    harness: Harness, kind: str, during: str, error: int, code: int
) -> None:
    db = harness.start()
    _seed(db)
    before = _state(db)
    harness.disk.error, harness.disk.during = error, during
    with pytest.raises(OperationFailure) as info:
        WRITES[kind](db)
    assert info.value.code == code
    assert "the write was not applied" in str(info.value)
    assert _state(db) == before
    harness.disk.error = None
    WRITES[kind](db)
    after = _state(db)
    assert _state(harness.restart()) == after


def test_a_failed_retryable_write_is_applied_when_retried(harness: Harness) -> None:
    db = harness.start()
    command = {
        "update": "acct",
        "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}, "upsert": True}],
        "lsid": {"id": bson.Binary(uuid.uuid4().bytes, 4)},
        "txnNumber": bson.Int64(1),
        "$db": "app",
    }
    url = harness.server.url
    harness.disk.error = errno.ENOSPC
    failed = raw_command(url, command)
    assert failed["ok"] == 0.0 and failed["code"] == 14031
    assert db.acct.find_one({"_id": 1}) is None
    harness.disk.error = None
    # The failed attempt left no stored reply: the retry runs the write, once.
    retried = raw_command(url, command)
    assert retried["ok"] == 1.0 and retried["n"] == 1
    again = raw_command(url, command)
    assert again["ok"] == 1.0 and again["n"] == 1
    assert db.acct.find_one({"_id": 1}) == {"_id": 1, "n": 1}
    assert harness.restart().acct.find_one({"_id": 1}) == {"_id": 1, "n": 1}


def test_a_transaction_open_during_a_failure_is_aborted_and_can_be_retried(
    harness: Harness,
) -> None:
    db = harness.start()
    _seed(db)
    assert db.client is not None
    with db.client.start_session() as session:
        session.start_transaction()
        db.items.update_one({"_id": 3}, {"$set": {"x": 33}}, session=session)
        harness.disk.error = errno.ENOSPC
        with pytest.raises(OperationFailure):
            db.items.insert_one({"_id": 200})
        harness.disk.error = None
        with pytest.raises(OperationFailure) as info:
            session.commit_transaction()
        assert info.value.has_error_label("TransientTransactionError")
    assert db.items.find_one({"_id": 3}) == {"_id": 3, "x": 3}
    db.items.insert_one({"_id": 200})
    assert db.items.count_documents({}) == 6


def _mount_tmpfs(path: Path, options: str) -> str | None:
    """Mount a tmpfs at ``path``; the reason it cannot be done, or None."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mount is not available: {exc}"
    if result.returncode != 0:
        return f"this machine does not let the tests mount a tmpfs: {result.stderr.strip()}"
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards; skipped where mounting is not allowed."""
    mount_point = tmp_path / "disk"
    reason = _mount_tmpfs(mount_point, "size=2m,mode=0700")
    if reason is not None:
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=30)


def test_a_full_disk_loses_no_acknowledged_write(small_disk: Path) -> None:
    data_dir = small_disk / "data"
    server = ServerProcess(data_dir=data_dir)
    client: MongoClient[dict[str, Any]] = MongoClient(server.start(), retryWrites=True)
    acknowledged: list[int] = []
    failure: OperationFailure | None = None
    for i in range(400):  # 400 x 10 KB cannot fit in 2 MiB
        try:
            client.app.items.insert_one({"_id": i, "pad": "x" * 10_000})
        except OperationFailure as exc:
            failure = exc
            break
        acknowledged.append(i)
    assert failure is not None and failure.code == 14031
    with pytest.raises(OperationFailure) as info:
        client.app.items.insert_one({"_id": "late", "pad": "x" * 10_000})
    assert info.value.code == 14031
    assert client.app.items.count_documents({}) == len(acknowledged)  # reads keep working
    client.close()
    server.kill()

    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True, timeout=30)
    with ServerProcess(data_dir=data_dir) as restarted:
        client = MongoClient(restarted.url)
        assert sorted(d["_id"] for d in client.app.items.find({}, {"_id": 1})) == acknowledged
        client.app.items.insert_one({"_id": "after", "pad": "x" * 10_000})  # space is back
        client.close()
    with ServerProcess(data_dir=data_dir) as again:
        client = MongoClient(again.url)
        assert client.app.items.count_documents({}) == len(acknowledged) + 1
        client.close()


def test_a_read_only_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    mount_point = tmp_path / "ro"
    reason = _mount_tmpfs(mount_point, "size=1m,ro")
    if reason is not None:
        pytest.skip(reason)
    try:
        with pytest.raises(RuntimeError, match="is on a read-only file system"):
            ServerProcess(data_dir=mount_point).start()
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=30)


def test_a_damaged_journal_stops_startup_until_repair_is_asked_for(tmp_path: Path) -> None:
    with ServerProcess(data_dir=tmp_path) as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        client.app.items.insert_many([{"_id": i} for i in range(3)])
        client.close()
    [journal] = tmp_path.glob("journal.*")
    good = journal.stat().st_size
    with journal.open("ab") as handle:  # a torn frame, then intact records after it
        handle.write(frame({"ops": []})[:7] + frame({"ops": []}))
    with pytest.raises(RuntimeError, match=rf"damaged at byte {good}.*--repair-journal"):
        ServerProcess(data_dir=tmp_path).start()
    with ServerProcess(data_dir=tmp_path, extra_args=["--repair-journal"]) as repaired:
        client = MongoClient(repaired.url)
        assert client.app.items.count_documents({}) == 3
        client.close()
        assert "repair: dropped" in repaired.log()


def _as_another_user() -> list[str]:
    """The prefix that runs a command as a user without root's access to every file."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot start the server as another user")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (0o703, "is not readable by this user"),
        (0o705, "is not writable"),
    ],
)
def test_an_unreadable_or_unwritable_data_dir_is_a_clear_error(mode: int, message: str) -> None:
    """One line naming the directory and the cause, not a failure to listen.

    The tests run as root, which reads and writes everything; the server is
    started as ``nobody`` then, and the mode's bits for others are the ones
    that count.
    """
    parent = Path(tempfile.mkdtemp())
    try:
        parent.chmod(0o755)
        data_dir = parent / "data"
        data_dir.mkdir()
        data_dir.chmod(mode)
        command = [sys.executable, "-m", "odmantic_fastapi.embedded", "--port", "0"]
        result = subprocess.run(
            [*_as_another_user(), *command, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert f"the data directory {data_dir} {message}" in result.stderr
        assert "Traceback" not in result.stderr and "listen" not in result.stderr
    finally:
        shutil.rmtree(parent)


def test_a_server_keeps_its_data_dir_private_whatever_the_umask(tmp_path: Path) -> None:
    """The data dir holds every document (the demo's token hashes too): 0700, files 0600.

    Started with umask 000, which would leave anything created without an
    explicit mode readable and writable by every user.
    """
    data_dir = tmp_path / "data"
    previous = os.umask(0)
    try:
        with ServerProcess(data_dir=data_dir) as server:
            client: MongoClient[dict[str, Any]] = MongoClient(server.url)
            client.app.items.insert_many([{"_id": i} for i in range(10)])
            client.close()
    finally:
        os.umask(previous)
    assert oct(data_dir.stat().st_mode & 0o777) == oct(0o700)
    files = list(data_dir.iterdir())
    assert {f.name.split(".")[0] for f in files} >= {"mongod", "journal", "checkpoint"}
    for path in files:
        assert oct(path.stat().st_mode & 0o777) == oct(0o600), path.name


def test_a_disk_that_fills_during_a_long_update_keeps_what_was_journalled(
    harness: Harness,
) -> None:
    """An update_many journals a record per turn; the disk fills partway through.

    The update ends with 14031 and memory goes back to what the journal holds:
    the turns journalled before the failure (an update of many documents is
    not atomic, on MongoDB either), none after. A restart finds exactly that.
    """
    db = harness.start()
    db.items.insert_many([{"_id": i, "x": i} for i in range(30_000)])

    def fill_the_disk() -> None:
        time.sleep(0.3)
        harness.disk.error = errno.ENOSPC

    filler = threading.Thread(target=fill_the_disk)
    filler.start()
    with pytest.raises(OperationFailure) as info:
        db.items.update_many({}, {"$inc": {"x": 1}})
    filler.join()
    assert info.value.code == 14031
    harness.disk.error = None
    after = list(db.items.find().sort("_id"))
    updated = sum(doc["x"] == doc["_id"] + 1 for doc in after)
    assert len(after) == 30_000 and updated < 30_000
    assert all(doc["x"] in (doc["_id"], doc["_id"] + 1) for doc in after)
    db.items.insert_one({"_id": "next"})  # writes work again
    assert list(harness.restart().items.find({"_id": {"$type": "int"}}).sort("_id")) == after
