"""Embedded server throughput against the floor of a do-nothing OP_MSG responder, in one run.

Usage: ``python bench/embedded_server.py [--quick]``; writes bench/results/embedded_server.json.
Every rate is operations per second from one pymongo client on one connection;
what matters is each rate's ratio to the floor measured in the same run.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from odmantic_fastapi.embedded import ServerProcess

RESULTS = Path(__file__).parent / "results"


def rate(operation: Callable[[int], Any], seconds: float) -> float:
    """Operations per second of ``operation(i)`` called in a loop for about ``seconds``."""
    for i in range(20):  # warm up connections and caches
        operation(i)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            operation(count)
            count += 1
    return count / (time.perf_counter() - start)


def floor_rate(seconds: float) -> float:
    script = Path(__file__).with_name("floor_responder.py")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        client: MongoClient[dict[str, Any]] = MongoClient(url)
        coll = client.bench.c
        result = rate(lambda i: coll.find_one({"_id": i}), seconds)
        client.close()
        return result
    finally:
        proc.kill()
        proc.wait()


def server_rates(size: int, seconds: float) -> dict[str, float]:
    with ServerProcess() as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        coll = client.bench.c
        coll.create_index("k")
        start = time.perf_counter()
        for offset in range(0, size, 1000):
            coll.insert_many(
                [
                    {"_id": i, "k": i, "u": i, "pad": "x" * 100}
                    for i in range(offset, min(offset + 1000, size))
                ]
            )
        insert_rate = size / (time.perf_counter() - start)
        rates = {
            "insert_many docs/s": insert_rate,
            "find_one by _id": rate(lambda i: coll.find_one({"_id": (i * 7919) % size}), seconds),
            "find_one indexed equality": rate(
                lambda i: coll.find_one({"k": (i * 7919) % size}), seconds
            ),
            "update_one $set by _id": rate(
                lambda i: coll.update_one({"_id": (i * 7919) % size}, {"$set": {"v": i}}),
                seconds,
            ),
        }
        scan_seconds = seconds if size <= 10_000 else seconds * 2
        rates["full scan find_one unindexed"] = rate(
            lambda i: coll.find_one({"u": -1}), scan_seconds
        )
        accounts = client.bench.accounts
        accounts.insert_many([{"_id": i, "balance": 1000} for i in range(100)])

        def transfer(i: int) -> None:
            def body(session: Any) -> None:
                accounts.update_one({"_id": i % 100}, {"$inc": {"balance": -1}}, session=session)
                accounts.update_one(
                    {"_id": (i + 1) % 100}, {"$inc": {"balance": 1}}, session=session
                )

            with client.start_session() as session:
                session.with_transaction(body)

        rates["transfer transactions"] = rate(transfer, seconds)
        client.close()
        return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter timings, sizes 1k and 10k")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else 3.0
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    floor = floor_rate(seconds)
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
        "seconds_per_measure": seconds,
        "floor_round_trips_per_second": floor,
        "sizes": {},
    }
    for size in sizes:
        rates = server_rates(size, seconds)
        results["sizes"][str(size)] = {
            name: {"per_second": value, "ratio_to_floor": value / floor}
            for name, value in rates.items()
        }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "embedded_server.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"floor (do-nothing responder): {floor:,.0f} round trips/s")
    for size, rates_ in results["sizes"].items():
        print(f"\n{int(size):,} documents")
        for name, value in rates_.items():
            print(f"  {name:32s} {value['per_second']:>10,.0f}/s  {value['ratio_to_floor']:6.1%}")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
