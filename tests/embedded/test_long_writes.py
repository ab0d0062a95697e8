"""Long writes take turns with other clients, and the journal still replays them in order.

An update or delete over many documents, and a findAndModify that must scan
and sort, used to run on the event loop from start to end: every other client
waited. They now match (and sort) in a worker thread and apply their writes in
short turns. Other clients' writes may land between those turns, as they may
on MongoDB, so each turn journals what it wrote before letting them in; a
restart must then rebuild exactly the state the clients saw. The server runs
as a process of its own, so kill -9 is real.
"""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, OperationFailure

from odmantic_fastapi.embedded import ServerProcess

from ._process import connect

# Big enough that each command below ran for a second or more on the event loop.
DOCUMENTS = 30_000


@pytest.fixture
def coll(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Collection[Any]]:
    client = connect(server.url)
    name = f"long_{request.node.name}".replace("[", "_").replace("]", "")[:60]
    collection = client[name].c
    collection.insert_many(
        [{"_id": i, "n": i, "k": (i * 7919) % DOCUMENTS} for i in range(DOCUMENTS)]
    )
    try:
        yield collection
    finally:
        client.drop_database(name)
        client.close()


def _pings_during(url: str, work: Callable[[], Any]) -> tuple[int, float]:
    """How many pings another client completed while ``work`` ran, and the slowest one."""
    client = connect(url)
    client.admin.command("ping")
    done = threading.Event()
    pings: list[float] = []

    def ping() -> None:
        while not done.is_set():
            start = time.perf_counter()
            client.admin.command("ping")
            if not done.is_set():
                pings.append(time.perf_counter() - start)
            time.sleep(0.005)

    thread = threading.Thread(target=ping)
    thread.start()
    try:
        work()
    finally:
        done.set()
        thread.join()
        client.close()
    return len(pings), max(pings, default=0.0)


WRITES: dict[str, Callable[[Collection[Any]], Any]] = {
    "update_many": lambda c: c.update_many({}, {"$inc": {"n": 1}}),
    "delete_many": lambda c: c.delete_many({"k": {"$lt": DOCUMENTS // 2}}),
    "find_one_and_update with a sort": lambda c: c.find_one_and_update(
        {"k": {"$gte": 0}}, {"$set": {"x": 1}}, sort=[("k", -1)]
    ),
    "find_one_and_delete with a sort": lambda c: c.find_one_and_delete(
        {"k": {"$gte": 0}}, sort=[("k", -1)]
    ),
    "create_index": lambda c: c.create_index([("k", 1), ("n", -1)]),
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_other_clients_are_served_while_a_long_write_runs(
    server: ServerProcess, coll: Collection[Any], name: str
) -> None:
    """Before, a ping sent during the write waited for its end: at most one got through."""
    served, slowest = _pings_during(server.url, lambda: WRITES[name](coll))
    print(f"{name}: {served} pings served during the write, the slowest {slowest:.3f} s")
    assert served >= 3


def test_the_writes_apply_as_before(coll: Collection[Any]) -> None:
    assert coll.update_many({"k": {"$lt": 100}}, {"$inc": {"n": 1}}).modified_count == 100
    assert coll.count_documents({"$expr": {"$ne": ["$n", "$_id"]}}) == 100
    top = coll.find_one_and_update({}, {"$set": {"top": True}}, sort=[("k", -1)])
    assert top is not None and top["k"] == DOCUMENTS - 1
    removed = coll.find_one_and_delete({"top": True})
    assert removed is not None and removed["_id"] == top["_id"]
    assert coll.delete_many({"k": {"$lt": 100}}).deleted_count == 100
    assert coll.count_documents({}) == DOCUMENTS - 101


def test_a_restart_rebuilds_what_interleaved_writes_left(tmp_path: Path) -> None:
    """Another client updates the same documents between a long update's turns.

    The journal must hold the writes in the order memory took them: after
    kill -9 and a restart, every document is exactly as both clients last read it.
    """
    server = ServerProcess(data_dir=tmp_path)
    url = server.start()
    try:
        client = connect(url)
        coll = client.app.c
        coll.insert_many([{"_id": i, "n": 0, "touched": 0} for i in range(DOCUMENTS)])
        done = threading.Event()
        touches = 0

        def touch() -> None:
            nonlocal touches
            other = connect(url)
            i = 0
            while not done.is_set():
                # Documents the long update has written, and ones it has yet to write.
                for target in (i % DOCUMENTS, DOCUMENTS - 1 - i % DOCUMENTS):
                    other.app.c.update_one({"_id": target}, {"$inc": {"touched": 1, "n": 100}})
                    touches += 1
                i += 97
            other.close()

        thread = threading.Thread(target=touch)
        thread.start()
        try:
            for _ in range(2):
                coll.update_many({}, {"$inc": {"n": 1}})
        finally:
            done.set()
            thread.join()
        before = list(coll.find().sort("_id", 1))
        assert sum(doc["touched"] for doc in before) == touches
        assert all(doc["n"] == 2 + 100 * doc["touched"] for doc in before)
        assert touches > 0
        client.close()
        server.kill()
        url = server.start()
        client = connect(url)
        assert list(client.app.c.find().sort("_id", 1)) == before
        client.close()
    finally:
        server.stop()


def test_dropping_the_collection_ends_a_long_update(
    server: ServerProcess, coll: Collection[Any]
) -> None:
    """MongoDB ends a write whose collection is dropped under it (175 QueryPlanKilled)."""
    outcome: list[BaseException | None] = []

    def update() -> None:
        try:
            coll.update_many({}, {"$inc": {"n": 1}})
            outcome.append(None)
        except OperationFailure as exc:
            outcome.append(exc)

    thread = threading.Thread(target=update)
    thread.start()
    dropper = connect(server.url)
    time.sleep(0.2)
    dropper[coll.database.name].drop_collection("c")
    thread.join()
    dropper.close()
    error = outcome[0]
    # Either the drop came between two turns, or the update had already ended.
    assert error is None or (isinstance(error, OperationFailure) and error.code == 175)
    assert coll.count_documents({}) == 0


def test_a_restart_rebuilds_what_a_long_retryable_insert_and_other_writes_left(
    tmp_path: Path,
) -> None:
    """A retryable insert_many keeps its writes and reply in one record, so it keeps the gate.

    Another client upserts the documents the batch inserts while it runs.
    Its writes wait for the batch's record; had they slipped in between the
    batch's turns, the restart would replay the batch's originals over them.
    """
    server = ServerProcess(data_dir=tmp_path)
    url = server.start()
    try:
        client = connect(url)
        started = threading.Event()
        done = threading.Event()

        def upsert() -> None:
            other = connect(url)
            started.wait()
            i = 0
            while not done.is_set():
                other.app.c.update_one(
                    {"_id": i % DOCUMENTS}, {"$inc": {"touched": 1}}, upsert=True
                )
                i += 101
            other.close()

        thread = threading.Thread(target=upsert)
        thread.start()
        try:
            started.set()
            # Documents an upsert created first are duplicates: that is fine.
            with contextlib.suppress(BulkWriteError):
                client.app.c.insert_many(
                    [{"_id": i, "n": i} for i in range(DOCUMENTS)], ordered=False
                )
        finally:
            done.set()
            thread.join()
        before = list(client.app.c.find().sort("_id", 1))
        assert len(before) == DOCUMENTS
        client.close()
        server.kill()
        url = server.start()
        client = connect(url)
        assert list(client.app.c.find().sort("_id", 1)) == before
        client.close()
    finally:
        server.stop()
