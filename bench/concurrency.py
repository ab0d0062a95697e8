"""The embedded server under concurrent clients, against the do-nothing floor at the same concurrency.

Usage: ``python -m bench.concurrency [--quick|--full]``; writes
bench/results/concurrency.json. One embedded server (``ServerProcess``, 10,000
documents) and the floor responder (``bench/floor_responder.py``) run side by
side. The load generator is this process: at each concurrency (1, 16, 64) it
runs that many asyncio tasks, each with its own pymongo ``AsyncMongoClient``
(one connection each), every task looping one workload until its window ends.
Server and floor take turns window by window, so a change in the machine's load
hits both. Workloads: find_one by _id, update_one by _id, a 3-write transaction
(two ``$inc`` and an insert, each client on accounts of its own), and a mixed
load on ten shared accounts (7 reads, 2 updates and 1 transaction in 10) where
transactions conflict with each other (WriteConflict, retried by
``with_transaction``) and plain updates wait for transactions' locks.
"""

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psutil  # type: ignore[import-untyped]  # no type hints; types-psutil is not installed
from pymongo import AsyncMongoClient, MongoClient

from odmantic_fastapi.embedded import ServerProcess

from ._common import machine, write_results
from .embedded_server import floor_responder

__all__ = ["LEVELS", "TARGETS", "WORKLOADS", "run"]

LEVELS = (1, 16, 64)
WORKLOADS = ("find_one by _id", "update_one by _id", "3-write transaction", "mixed read/write")
SERVER, FLOOR = "embedded server", "floor"
TARGETS = (SERVER, FLOOR)
BOOKS = 10_000
HOT_ACCOUNTS = 10
DATABASE = "bench_concurrency"

Client = AsyncMongoClient[dict[str, Any]]
Operation = Callable[[int], Awaitable[None]]


@dataclass
class _Counts:
    """What the tasks of one window did: operations, latencies, transaction attempts."""

    operations: int = 0
    latencies: list[float] = field(default_factory=list)
    transactions: int = 0
    attempts: int = 0


def _set_up(url: str) -> None:
    """Books 0..9,999 and one pair of accounts per client, plus the shared hot accounts."""
    client: MongoClient[dict[str, Any]] = MongoClient(url)
    with client:
        db = client[DATABASE]
        db.books.insert_many([{"_id": i, "k": i, "pad": "x" * 100} for i in range(BOOKS)])
        db.accounts.insert_many([{"_id": i, "balance": 10**9} for i in range(2 * max(LEVELS))])
        db.hot.insert_many([{"_id": i, "balance": 10**9} for i in range(HOT_ACCOUNTS)])
        db.create_collection("transfers")


def _operations(client: Client, number: int, counts: _Counts) -> dict[str, Operation]:
    """Each workload's one operation, for the ``number``-th client."""
    db = client[DATABASE]
    mine = (2 * number, 2 * number + 1)

    async def transaction(accounts: Any, source: int, target: int) -> None:
        async def body(session: Any) -> None:
            counts.attempts += 1
            await accounts.update_one({"_id": source}, {"$inc": {"balance": -1}}, session=session)
            await accounts.update_one({"_id": target}, {"$inc": {"balance": 1}}, session=session)
            await db.transfers.insert_one({"from": source, "to": target}, session=session)

        async with client.start_session() as session:
            await session.with_transaction(body)
        counts.transactions += 1

    async def find_one(i: int) -> None:
        # Keys jump around the collection (7919 is prime).
        await db.books.find_one({"_id": (i * 7919 + number) % BOOKS})

    async def update_one(i: int) -> None:
        await db.books.update_one({"_id": (i * 7919 + number) % BOOKS}, {"$set": {"v": i}})

    async def three_writes(i: int) -> None:
        await transaction(db.accounts, *(mine if i % 2 else mine[::-1]))

    async def mixed(i: int) -> None:
        step = (i + number) % 10
        key = (i * 7 + number) % HOT_ACCOUNTS
        if step < 7:
            await db.hot.find_one({"_id": key})
        elif step < 9:
            await db.hot.update_one({"_id": key}, {"$inc": {"balance": 0}})
        else:
            await transaction(db.hot, key, (key + 1) % HOT_ACCOUNTS)

    return dict(zip(WORKLOADS, (find_one, update_one, three_writes, mixed), strict=True))


async def _window(clients: list[Client], workload: str, seconds: float, counts: _Counts) -> float:
    """Every client loops ``workload`` until the window ends; returns the elapsed seconds."""
    deadline = time.perf_counter() + seconds

    async def loop(number: int, client: Client) -> None:
        operation = _operations(client, number, counts)[workload]
        i = 0
        while (start := time.perf_counter()) < deadline:
            await operation(i)
            counts.latencies.append(time.perf_counter() - start)
            counts.operations += 1
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(n, c) for n, c in enumerate(clients)))
    return time.perf_counter() - started


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _measure(
    urls: dict[str, str], processes: dict[str, psutil.Process], seconds: float, windows: int
) -> dict[str, Any]:
    """Every workload at every concurrency on both targets, the targets taking turns."""
    pools: dict[str, list[Client]] = {
        name: [AsyncMongoClient(url, maxPoolSize=1) for _ in range(max(LEVELS))]
        for name, url in urls.items()
    }
    try:
        for pool in pools.values():  # connect every client before anything is timed
            await asyncio.gather(*(c.admin.command("ping") for c in pool))
        results: dict[str, Any] = {}
        for workload in WORKLOADS:
            results[workload] = {}
            for level in LEVELS:
                for name in TARGETS:  # warm-up
                    await _window(pools[name][:level], workload, 0.3, _Counts())
                counts = {name: _Counts() for name in TARGETS}
                elapsed = dict.fromkeys(TARGETS, 0.0)
                cpu = dict.fromkeys(TARGETS, 0.0)
                aborted = await _aborted(pools[SERVER][0])
                for turn in range(windows):
                    order = TARGETS if turn % 2 == 0 else TARGETS[::-1]
                    for name in order:
                        before = _cpu_seconds(processes[name])
                        elapsed[name] += await _window(
                            pools[name][:level], workload, seconds / windows, counts[name]
                        )
                        cpu[name] += _cpu_seconds(processes[name]) - before
                aborted = await _aborted(pools[SERVER][0]) - aborted
                results[workload][str(level)] = {
                    name: _summary(counts[name], elapsed[name], cpu[name]) for name in TARGETS
                }
                results[workload][str(level)][SERVER]["server_aborted_transactions"] = aborted
        return results
    finally:
        for pool in pools.values():
            await asyncio.gather(*(c.close() for c in pool))


async def _aborted(client: Client) -> int:
    status = await client.admin.command("serverStatus")
    return int(status["transactions"]["totalAborted"])


def _summary(counts: _Counts, elapsed: float, cpu: float) -> dict[str, Any]:
    latencies = sorted(counts.latencies)
    summary: dict[str, Any] = {
        "operations": counts.operations,
        "per_second": counts.operations / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "responder_cpu_ms_per_operation": cpu / counts.operations * 1000,
    }
    if counts.transactions:
        summary["transactions"] = counts.transactions
        # with_transaction runs its callback again after a WriteConflict.
        summary["transaction_retries"] = counts.attempts - counts.transactions
    return summary


def run(quick: bool) -> dict[str, Any]:
    """Measure, and return the results as written to concurrency.json."""
    seconds, windows = (1.2, 2) if quick else (6.0, 4)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(ServerProcess())
        _set_up(server.url)
        urls = {SERVER: server.url, FLOOR: stack.enter_context(floor_responder())}
        assert server.process is not None
        processes = {SERVER: psutil.Process(server.process.pid)}
        floor_pids = [
            p.pid for p in psutil.Process().children() if "floor_responder" in " ".join(p.cmdline())
        ]
        processes[FLOOR] = psutil.Process(floor_pids[0])
        results = asyncio.run(_measure(urls, processes, seconds, windows))
    ratios: dict[str, dict[str, float]] = {}
    scaling: dict[str, dict[str, float]] = {}
    for workload, by_level in results.items():
        one = by_level[str(LEVELS[0])][SERVER]["per_second"]
        ratios[workload] = {
            level: s[SERVER]["per_second"] / s[FLOOR]["per_second"] for level, s in by_level.items()
        }
        scaling[workload] = {level: s[SERVER]["per_second"] / one for level, s in by_level.items()}
    return {
        "mode": "quick" if quick else "full",
        "machine": machine(),
        "seconds_per_measure": seconds,
        "windows_per_measure": windows,
        "documents": BOOKS,
        "workloads": results,
        "server_over_floor": ratios,
        "server_over_one_client": scaling,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1.2 s per measure (the default)")
    mode.add_argument("--full", action="store_true", help="6 s per measure")
    args = parser.parse_args()
    results = run(quick=not args.full)
    out = write_results("concurrency", results)
    for workload, by_level in results["workloads"].items():
        print(workload)
        for level, by_target in by_level.items():
            s, f = by_target[SERVER], by_target[FLOOR]
            ratio = results["server_over_floor"][workload][level]
            retries = f"  retries {s['transaction_retries']}" if "transaction_retries" in s else ""
            print(
                f"  {level:>3} clients: server {s['per_second']:>7,.0f}/s  floor"
                f" {f['per_second']:>7,.0f}/s  {ratio:5.2f}x floor  p99 {s['p99_ms']:.1f} ms"
                f"{retries}"
            )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
