"""Embedded server throughput at 1k, 10k and 100k documents, against a do-nothing responder's floor.

Usage: ``python -m bench.embedded_server [--quick|--full]``; writes
bench/results/embedded_server.json. Three embedded servers (one per size) and
the floor responder (``bench/floor_responder.py``, which answers every OP_MSG
with a canned reply) run side by side; each operation is measured in short
slices that take turns across them, so the machine's load changes hit every
size and the floor alike. Rates are operations per second from one pymongo
client on one connection. What matters is each rate's ratio to the floor, and
for indexed operations the cost at 100k over the cost at 1k (flat means 1).
"""

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection

from odmantic_fastapi.embedded import ServerProcess

from ._common import machine, write_results

__all__ = ["INDEXED", "OPERATIONS", "SIZES", "floor_responder", "run"]

SIZES = (1_000, 10_000, 100_000)
ACCOUNTS = 100
# Operations whose cost must not grow with the collection.
INDEXED = ("find_one by _id", "find_one indexed equality", "update_one $set by _id")
OPERATIONS = (*INDEXED, "full scan (unindexed find_one)", "transfer transaction")
FLOOR = "floor"

Client = MongoClient[dict[str, Any]]
Operation = Callable[[int], Any]


@contextlib.contextmanager
def floor_responder() -> Iterator[str]:
    """Run bench/floor_responder.py; yields its mongodb:// URL."""
    script = Path(__file__).with_name("floor_responder.py")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _load(client: Client, size: int) -> float:
    """Fill the server with ``size`` books (indexed on k) and 100 accounts; returns docs/s."""
    books = client.bench.c
    books.create_index("k")
    start = time.perf_counter()
    for offset in range(0, size, 1000):
        books.insert_many(
            [
                {"_id": i, "k": i, "u": i, "pad": "x" * 100}
                for i in range(offset, min(offset + 1000, size))
            ]
        )
    inserted = size / (time.perf_counter() - start)
    client.bench.accounts.insert_many([{"_id": i, "balance": 10**9} for i in range(ACCOUNTS)])
    return inserted


def _operations(client: Client, size: int) -> dict[str, Operation]:
    books: Collection[dict[str, Any]] = client.bench.c
    accounts: Collection[dict[str, Any]] = client.bench.accounts

    def transfer(i: int) -> None:
        def body(session: Any) -> None:
            accounts.update_one({"_id": i % ACCOUNTS}, {"$inc": {"balance": -1}}, session=session)
            accounts.update_one(
                {"_id": (i + 1) % ACCOUNTS}, {"$inc": {"balance": 1}}, session=session
            )

        with client.start_session() as session:
            session.with_transaction(body)

    # Keys jump around the collection (7919 is prime) so no cache favours small sizes.
    return {
        "find_one by _id": lambda i: books.find_one({"_id": (i * 7919) % size}),
        "find_one indexed equality": lambda i: books.find_one({"k": (i * 7919) % size}),
        "update_one $set by _id": lambda i: books.update_one(
            {"_id": (i * 7919) % size}, {"$set": {"v": i}}
        ),
        "full scan (unindexed find_one)": lambda i: books.find_one({"u": -1}),
        "transfer transaction": transfer,
    }


def _slice(operation: Operation, start_index: int, seconds: float) -> tuple[int, float]:
    """Calls of ``operation`` for about ``seconds`` (at least one): (calls, elapsed)."""
    count = 0
    start = now = time.perf_counter()
    deadline = start + seconds
    while now < deadline or count == 0:
        operation(start_index + count)
        count += 1
        now = time.perf_counter()
    return count, now - start


def _measure(
    targets: dict[str, dict[str, Operation]], seconds: float, slices: int
) -> dict[str, dict[str, float]]:
    """Rates of every operation on every target, the targets taking turns slice by slice."""
    rates: dict[str, dict[str, float]] = {name: {} for name in targets}
    names = list(targets)
    for op in OPERATIONS:
        runners = [(name, ops[op]) for name, ops in targets.items() if op in ops]
        for _, operation in runners:  # warm-up
            _slice(operation, 0, 0.05)
        calls = dict.fromkeys(names, 0)
        elapsed = dict.fromkeys(names, 0.0)
        per_slice = (seconds * 2 if op.startswith("full scan") else seconds) / slices
        for turn in range(slices):
            shift = turn % len(runners)
            for name, operation in runners[shift:] + runners[:shift]:
                count, spent = _slice(operation, calls[name], per_slice)
                calls[name] += count
                elapsed[name] += spent
        for name, _ in runners:
            rates[name][op] = calls[name] / elapsed[name]
    return rates


def run(quick: bool) -> dict[str, Any]:
    """Measure, and return the results as written to embedded_server.json."""
    seconds, slices = (0.6, 3) if quick else (3.0, 10)
    with contextlib.ExitStack() as stack:
        floor_client: Client = MongoClient(stack.enter_context(floor_responder()))
        stack.callback(floor_client.close)
        floor_coll = floor_client.bench.c
        targets: dict[str, dict[str, Operation]] = {
            # The floor answers the servers' find_one by _id, taking turns with them.
            FLOOR: {"find_one by _id": lambda i: floor_coll.find_one({"_id": i})}
        }
        clients: dict[int, Client] = {}
        for size in SIZES:
            server = stack.enter_context(ServerProcess())
            clients[size] = MongoClient(server.url)
            stack.callback(clients[size].close)
        # Loaded in parallel to save time: the insert rates are indicative only.
        with ThreadPoolExecutor(len(SIZES)) as pool:
            loaded = dict(zip(SIZES, pool.map(lambda n: _load(clients[n], n), SIZES), strict=True))
        insert_rates = {str(size): rate for size, rate in loaded.items()}
        for size in SIZES:
            targets[str(size)] = _operations(clients[size], size)
        rates = _measure(targets, seconds, slices)
    floor = rates[FLOOR]["find_one by _id"]
    by_size: dict[str, Any] = {}
    for size in SIZES:
        ops_rates = rates[str(size)]
        by_size[str(size)] = {
            op: {"per_second": ops_rates[op], "ratio_to_floor": ops_rates[op] / floor}
            for op in OPERATIONS
        }
        by_size[str(size)]["insert_many docs/s"] = {"per_second": insert_rates[str(size)]}
    smallest, largest = rates[str(SIZES[0])], rates[str(SIZES[-1])]
    return {
        "mode": "quick" if quick else "full",
        "machine": machine(),
        "seconds_per_measure": seconds,
        "slices_per_measure": slices,
        "floor_round_trips_per_second": floor,
        "sizes": by_size,
        # Time per operation at 100k over time per operation at 1k.
        "cost_100k_over_1k": {op: smallest[op] / largest[op] for op in INDEXED},
        "scan_cost_100k_over_1k": smallest[OPERATIONS[3]] / largest[OPERATIONS[3]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="0.6 s per measure (the default)")
    mode.add_argument("--full", action="store_true", help="3 s per measure")
    args = parser.parse_args()
    results = run(quick=not args.full)
    out = write_results("embedded_server", results)
    floor = results["floor_round_trips_per_second"]
    print(f"floor (do-nothing responder): {floor:,.0f} round trips/s")
    for size, rates in results["sizes"].items():
        print(f"\n{int(size):,} documents")
        for name, value in rates.items():
            ratio = f"{value['ratio_to_floor']:6.1%}" if "ratio_to_floor" in value else ""
            print(f"  {name:32s} {value['per_second']:>10,.0f}/s  {ratio}")
    print()
    for name, ratio in results["cost_100k_over_1k"].items():
        print(f"{name:32s} cost at 100k / cost at 1k: {ratio:.2f}")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
