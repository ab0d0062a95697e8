"""createIndexes over a large collection builds in steps, while other clients write.

Built in one go, an index over 200,000 documents held every client for 2.1 s.
Now the build lets others run between slices; their writes must reach the
new index all the same, and a unique index must still refuse duplicates.
"""

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from odmantic_fastapi.embedded import ServerProcess

from ._process import connect

DOCUMENTS = 20_000  # well over what is built in one go (4,096)


@pytest.fixture
def coll(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Collection[Any]]:
    client = connect(server.url)
    collection = client.builds[request.node.name[:50]]
    collection.insert_many([{"_id": i, "k": i % 1_000, "u": i} for i in range(DOCUMENTS)])
    try:
        yield collection
    finally:
        collection.drop()
        client.close()


def _churn(coll: Collection[Any], stop: threading.Event, writes: list[int]) -> None:
    rng = random.Random(3)
    while not stop.is_set():
        i = rng.randrange(DOCUMENTS * 2)
        kind = rng.randrange(3)
        if kind == 0:
            coll.update_one({"_id": i}, {"$set": {"k": rng.randrange(-500, 1_500)}}, upsert=True)
        elif kind == 1:
            coll.delete_one({"_id": i})
        else:
            coll.update_one({"_id": i}, {"$inc": {"k": 1}})
        writes.append(kind)


def test_writes_during_the_build_reach_the_new_index(coll: Collection[Any]) -> None:
    stop, writes = threading.Event(), list[int]()
    writer = threading.Thread(target=_churn, args=(coll, stop, writes))
    writer.start()
    try:
        coll.create_index("k")
        built_with = len(writes)
    finally:
        stop.set()
        writer.join()
    assert built_with > 0  # other writes went on during the build
    for low, high in [(-500, 0), (0, 10), (500, 520), (990, 1_500)]:
        by_index = coll.find({"k": {"$gte": low, "$lt": high}}, {"_id": 1}).hint("k_1")
        by_scan = coll.find({"k": {"$gte": low, "$lt": high}}, {"_id": 1}).hint({"$natural": 1})
        assert sorted(d["_id"] for d in by_index) == sorted(d["_id"] for d in by_scan)


def test_a_unique_build_refuses_a_duplicate_and_leaves_no_index(coll: Collection[Any]) -> None:
    coll.create_index("u", unique=True)  # every u differs
    coll.insert_one({"_id": "twin", "u2": 5})
    coll.update_one({"_id": 17}, {"$set": {"u2": 5}})
    with pytest.raises(OperationFailure) as raised:
        coll.create_index("u2", unique=True, sparse=True)
    assert raised.value.code == 11000
    assert "u2_1" not in coll.index_information()
    assert "u_1" in coll.index_information()


def test_an_index_built_in_steps_survives_a_restart(tmp_path: Path) -> None:
    with ServerProcess(data_dir=tmp_path) as first:
        client = connect(first.url)
        client.app.c.insert_many([{"_id": i, "k": -i} for i in range(DOCUMENTS)])
        client.app.c.create_index("k")
        client.close()
    with ServerProcess(data_dir=tmp_path) as second:
        client = connect(second.url)
        assert "k_1" in client.app.c.index_information()
        found = list(client.app.c.find({"k": {"$gt": -3}}).hint("k_1"))
        assert sorted(d["_id"] for d in found) == [0, 1, 2]
        client.close()


def test_a_rename_during_a_build_leaves_memory_and_journal_agreeing(tmp_path: Path) -> None:
    outcome: list[BaseException | None] = []
    with ServerProcess(data_dir=tmp_path) as first:
        client = connect(first.url)
        client.app.c.insert_many([{"_id": i, "k": -i} for i in range(DOCUMENTS * 2)])

        def build() -> None:
            try:
                client.app.c.create_index("k")
                outcome.append(None)
            except OperationFailure as exc:
                outcome.append(exc)

        builder = threading.Thread(target=build)
        builder.start()
        time.sleep(0.05)  # the build of 40,000 takes several times longer
        client.admin.command("renameCollection", "app.c", to="app.d")
        builder.join()
        before = sorted(client.app.d.index_information())
        names_before = sorted(client.app.list_collection_names())
        client.close()
        first.kill()  # a clean stop would checkpoint memory: the journal must tell the same
    error = outcome[0]
    # The rename came between two slices (175, no index anywhere) or after the build.
    assert error is None or (isinstance(error, OperationFailure) and error.code == 175)
    with ServerProcess(data_dir=tmp_path) as second:
        client = connect(second.url)
        assert sorted(client.app.list_collection_names()) == names_before == ["d"]
        assert sorted(client.app.d.index_information()) == before
        client.close()
