"""Fair service and bounded work over the wire: maxTimeMS, linear-time regexes, pauses, limits.

The server runs as its own process here, so the latency a second client sees
is the server's, not this test process's.
"""

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ExecutionTimeout, OperationFailure

from odmantic_fastapi.embedded import ServerProcess

# One $reduce over a 20,000-element $range per document: tens of milliseconds each.
SLOW = {"$expr": {"$gte": [{"$reduce": {"input": {"$range": [0, 20000]}, "initialValue": 0, "in": {"$add": ["$$value", "$$this"]}}}, 0]}}  # fmt: skip


@pytest.fixture
def db(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Database[Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(server.url)
    name = f"fair_{request.node.name}".replace("[", "_").replace("]", "")[:60]
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


def _seed(coll: Collection[Any], n: int, **extra: Any) -> None:
    coll.insert_many([{"_id": i, "n": i, **extra} for i in range(n)])


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def test_a_backtracking_regex_runs_in_linear_time(db: Database[Any]) -> None:
    _seed(db.c, 2000, s="a" * 30 + "b")
    query = {"s": {"$regex": "^(a+)+$"}}
    elapsed = _timed(lambda: list(db.c.find(query).max_time_ms(1000)))
    assert elapsed < 1.0  # before: 36.6 s on one document
    assert db.c.count_documents({"s": {"$regex": "^(a+)+b$"}}) == 2000


def test_a_pattern_re2_cannot_run_gets_a_time_budget(db: Database[Any]) -> None:
    db.c.insert_one({"s": "a" * 30})
    lookahead = {"s": {"$regex": "^(a|a)+(?=x)"}}  # lookahead: RE2 cannot run it
    start = time.perf_counter()
    with pytest.raises(OperationFailure) as info:
        db.c.find_one(lookahead)
    assert info.value.code == 2 and "took longer than 100 ms" in str(info.value)
    with pytest.raises(ExecutionTimeout):
        db.c.find_one(lookahead, max_time_ms=20)
    assert time.perf_counter() - start < 2.0
    assert db.c.find_one({"s": {"$regex": "^(a)\\1+(?!b)"}}) is not None  # still supported


COMMANDS: dict[str, Callable[[Database[Any]], Any]] = {
    "find": lambda db: list(db.c.find(SLOW).max_time_ms(200)),
    "aggregate": lambda db: list(db.c.aggregate([{"$match": SLOW}], maxTimeMS=200)),
    "count": lambda db: db.command("count", "c", query=SLOW, maxTimeMS=200),
    "distinct": lambda db: db.c.distinct("n", SLOW, maxTimeMS=200),
    "update": lambda db: db.command(
        "update", "c", updates=[{"q": SLOW, "u": {"$set": {"x": 1}}, "multi": True}], maxTimeMS=200
    ),
    "delete": lambda db: db.command(
        "delete", "c", deletes=[{"q": SLOW, "limit": 0}], maxTimeMS=200
    ),
    "findAndModify": lambda db: db.command(
        "findAndModify", "c", query=SLOW, update={"$set": {"x": 1}}, sort={"n": -1}, maxTimeMS=200
    ),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_max_time_ms_is_honoured(db: Database[Any], name: str) -> None:
    _seed(db.c, 400)  # about 20 s of work without a limit
    start = time.perf_counter()
    with pytest.raises(OperationFailure) as info:
        COMMANDS[name](db)
    elapsed = time.perf_counter() - start
    assert info.value.code == 50, info.value
    assert elapsed < 2.0
    assert db.c.count_documents({"x": 1}) == 0 or name in ("update",)


def test_get_more_accepts_max_time_ms(db: Database[Any]) -> None:
    _seed(db.c, 300)
    cursor = db.c.find({}, batch_size=10).max_await_time_ms(100)
    assert len(list(cursor)) == 300
    reply = db.command("find", "c", batchSize=1)
    cursor_id = reply["cursor"]["id"]
    more = db.command("getMore", cursor_id, collection="c", batchSize=5, maxTimeMS=100)
    assert len(more["cursor"]["nextBatch"]) == 5


_PINGER = """
import sys, threading, time
from pymongo import MongoClient
client = MongoClient(sys.argv[1])
client.admin.command("ping")
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
print("ready", flush=True)
worst = 0.0
while not done.is_set():
    start = time.perf_counter()
    client.admin.command("ping")
    worst = max(worst, time.perf_counter() - start)
    time.sleep(0.01)
print(worst, flush=True)
"""


def _latency_while(url: str, work: Callable[[], Any]) -> tuple[float, float]:
    """The slowest ping another process sees while ``work`` runs, and how long ``work`` took."""
    with subprocess.Popen(
        [sys.executable, "-c", _PINGER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as pinger:
        assert pinger.stdin is not None and pinger.stdout is not None
        assert pinger.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        elapsed = _timed(work)
        pinger.stdin.close()
        worst = float(pinger.stdout.readline())
    return worst, elapsed


def test_a_long_scan_does_not_keep_other_clients_waiting(
    server: ServerProcess, db: Database[Any]
) -> None:
    _seed(db.c, 12)
    worst, elapsed = _latency_while(server.url, lambda: list(db.c.find(SLOW)))
    assert elapsed > 0.5  # long enough to have stalled everyone before
    print(f"worst ping {worst:.3f} s during a {elapsed:.1f} s scan")
    assert worst < 0.3, f"a ping waited {worst:.3f} s during a {elapsed:.1f} s scan"


def test_a_large_sort_does_not_keep_other_clients_waiting(
    server: ServerProcess, db: Database[Any]
) -> None:
    db.c.insert_many([{"k": (i * 7919) % 50_000, "s": f"v{i}"} for i in range(50_000)])
    worst, elapsed = _latency_while(server.url, lambda: list(db.c.find().sort("k", -1)))
    print(f"worst ping {worst:.3f} s during a {elapsed:.1f} s sort")
    assert worst < 0.3, f"a ping waited {worst:.3f} s during a {elapsed:.1f} s sort"


def test_in_with_many_values_is_one_lookup_per_value(db: Database[Any]) -> None:
    _seed(db.c, 20_000)
    wanted = list(range(0, 40_000, 40))  # 1,000 integers, 500 of them present
    elapsed = _timed(lambda: db.c.count_documents({"n": {"$in": wanted}}))
    assert db.c.count_documents({"n": {"$in": wanted}}) == 500
    assert elapsed < 2.0  # before: documents x list length equality tests


def test_a_blocking_sort_over_100_mb_needs_allow_disk_use(db: Database[Any]) -> None:
    db.big.insert_many([{"_id": i, "pad": "x" * 1_000_000} for i in range(110)])
    with pytest.raises(OperationFailure) as info:
        list(db.big.find({}, {"_id": 1}).sort("pad", 1))
    assert info.value.code == 292
    with pytest.raises(OperationFailure) as info:
        list(db.big.aggregate([{"$sort": {"pad": 1}}, {"$project": {"_id": 1}}]))
    assert info.value.code == 292
    assert len(list(db.big.find({}, {"_id": 1}).sort("pad", 1).allow_disk_use(True))) == 110
    stages = [{"$sort": {"pad": 1}}, {"$project": {"_id": 1}}]
    assert len(list(db.big.aggregate(stages, allowDiskUse=True))) == 110


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ({"$size": {"$range": [0, 100_000_000]}}, 146),
        ({"$strLenBytes": {"$concat": ["$s"] * 20}}, 10334),
        ({"$size": {"$concatArrays": [{"$range": [0, 1_000_000]}] * 3}}, 10334),
        # One 1 MB string repeated by reference: small in memory, 20 MB in a reply.
        ({"$size": {"$map": {"input": {"$range": [0, 20]}, "in": "$s"}}}, 10334),
        (
            {
                "$size": {
                    "$filter": {
                        "input": {"$map": {"input": {"$range": [0, 20]}, "in": "$s"}},
                        "cond": True,
                    }
                }
            },
            10334,
        ),
        (
            {
                "$size": {
                    "$reduce": {
                        "input": {"$range": [0, 20]},
                        "initialValue": [],
                        "in": {"$concatArrays": ["$$value", ["$s"]]},
                    }
                }
            },
            10334,
        ),
    ],
)
def test_expressions_cannot_build_values_past_mongodb_limits(
    db: Database[Any], expression: Any, code: int
) -> None:
    db.c.insert_one({"_id": 1, "s": "x" * 1_000_000})
    start = time.perf_counter()
    with pytest.raises(OperationFailure) as info:
        list(db.c.aggregate([{"$project": {"v": expression}}]))
    assert info.value.code == code
    assert time.perf_counter() - start < 2.0  # before: 15.7 s and 4.0 GB for the $range


def test_push_and_add_to_set_hold_at_most_100_mb_per_group(db: Database[Any]) -> None:
    """MongoDB's accumulators stop at 100 MB (146); before, they grew until memory ran out."""
    db.c.insert_many([{"_id": i, "s": f"{i:08d}" + "x" * 999_992} for i in range(110)])
    for accumulator in ("$push", "$addToSet"):
        with pytest.raises(OperationFailure) as info:
            list(db.c.aggregate([{"$group": {"_id": None, "all": {accumulator: "$s"}}}]))
        assert info.value.code == 146 and accumulator in str(info.value)
    small: list[dict[str, Any]] = [
        {"$match": {"_id": {"$lt": 5}}},
        {"$group": {"_id": None, "all": {"$push": "$_id"}}},
    ]
    assert next(db.c.aggregate(small))["all"] == [0, 1, 2, 3, 4]


def test_lookup_from_another_database_is_a_clear_error(db: Database[Any]) -> None:
    db.c.insert_one({"_id": 1})
    stage = {"$lookup": {"from": {"db": "other", "coll": "x"}, "pipeline": [], "as": "y"}}
    with pytest.raises(OperationFailure) as info:
        list(db.c.aggregate([stage]))
    assert info.value.code == 20
    assert "another database" in str(info.value)
