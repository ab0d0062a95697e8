"""A retryable write of many statements takes turns with other writers, and still applies once.

pymongo sends every insert_many and bulk_write of single-document statements
as a retryable write. Such a command used to keep the server's write gate
from its first write to its reply, so every other writer waited for it (2.6 s
behind an insert_many of 100,000 documents). It now lets other writes in
between its turns, as MongoDB does; each turn's journal record carries the
results of the statements it holds, and a retry (after a crash, after write
errors, or while the first attempt still runs) runs only the statements that
have not run, and counts the others from their results.
"""

import contextlib
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pytest

from odmantic_fastapi.embedded import ServerProcess

from ._process import connect
from ._wire import raw_command

DOCUMENTS = 40_000


def _insert(documents: list[dict[str, Any]], txn_number: int = 1) -> dict[str, Any]:
    """A retryable insert with a session id of our own, so that a test can retry it."""
    return {
        "insert": "c",
        "documents": documents,
        "ordered": True,
        "lsid": {"id": bson.Binary(uuid.uuid4().bytes, 4)},
        "txnNumber": bson.Int64(txn_number),
        "$db": "app",
    }


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as process:
        yield process


def test_other_writers_are_served_while_a_large_retryable_insert_runs(
    server: ServerProcess,
) -> None:
    big, other = connect(server.url), connect(server.url)
    other.app.other.insert_one({"warm": True})
    finished: list[tuple[float, float]] = []
    done = threading.Event()

    def write_every_5_ms() -> None:
        while not done.is_set():
            started = time.monotonic()
            other.app.other.insert_one({"x": 1})
            finished.append((started, time.monotonic()))
            time.sleep(0.005)

    writer = threading.Thread(target=write_every_5_ms)
    writer.start()
    try:
        start = time.monotonic()
        big.app.c.insert_many([{"_id": i} for i in range(DOCUMENTS)])  # retryable
        end = time.monotonic()
    finally:
        done.set()
        writer.join()
        big.close()
        other.close()
    waits = [ended - began for began, ended in finished if began < end and ended > start]
    # Before, a write sent once the insert had begun writing waited for all of it:
    # 2.6 s behind 100,000 documents. Now it waits for one turn.
    assert max(waits) < (end - start) / 3, (end - start, max(waits))


def test_a_retry_after_write_errors_runs_only_the_statements_that_had_not_run(
    server: ServerProcess,
) -> None:
    client = connect(server.url)
    client.app.c.insert_one({"_id": 500})
    command = _insert([{"_id": i} for i in range(1_000)])
    first = raw_command(server.url, command)
    assert first["n"] == 500 and first["writeErrors"][0]["index"] == 500
    client.app.c.delete_one({"_id": 500})
    retried = raw_command(server.url, command)
    # The first 500 are counted from the first attempt, not inserted again (no
    # duplicate key on _id 0), and the rest run now.
    assert retried["ok"] == 1.0 and "writeErrors" not in retried
    assert retried["n"] == 1_000
    assert client.app.c.count_documents({}) == 1_000
    client.close()


def test_a_retry_while_the_first_attempt_runs_waits_for_its_reply(
    server: ServerProcess,
) -> None:
    client = connect(server.url)
    command = _insert([{"_id": i} for i in range(DOCUMENTS)])
    replies: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: replies.append(raw_command(server.url, command)))
    first.start()
    while client.app.c.estimated_document_count() == 0:
        time.sleep(0.005)
    retried = raw_command(server.url, command)
    first.join()
    assert retried == replies[0] or retried["n"] == DOCUMENTS
    assert replies[0]["n"] == DOCUMENTS and "writeErrors" not in replies[0]
    assert retried["n"] == DOCUMENTS and "writeErrors" not in retried
    assert client.app.c.count_documents({}) == DOCUMENTS
    client.close()


@pytest.mark.slow
def test_a_retry_after_kill_9_mid_insert_inserts_each_document_once(tmp_path: Path) -> None:
    command = _insert([{"_id": i, "pad": "x" * 100} for i in range(DOCUMENTS)])
    server = ServerProcess(data_dir=tmp_path)
    server.start()
    try:
        client = connect(server.url)
        sender = threading.Thread(target=lambda: _ignore_errors(server.url, command))
        sender.start()
        while client.app.c.estimated_document_count() < DOCUMENTS // 4:
            time.sleep(0.002)
        client.close()
        server.kill()
        sender.join()
    finally:
        server.stop()
    with ServerProcess(data_dir=tmp_path) as restarted:
        client = connect(restarted.url)
        kept = client.app.c.count_documents({})
        assert 0 < kept < DOCUMENTS, kept  # the kill came mid-command
        retried = raw_command(restarted.url, command)
        assert retried["ok"] == 1.0 and "writeErrors" not in retried, retried.get("writeErrors")
        assert retried["n"] == DOCUMENTS
        assert client.app.c.count_documents({}) == DOCUMENTS
        client.close()


def _ignore_errors(url: str, command: dict[str, Any]) -> None:
    with contextlib.suppress(OSError, struct.error):  # the server was killed under it
        raw_command(url, command)
