"""HTTP: the demo's POST /transfers under load, next to a hand-written raw-pymongo endpoint.

Usage: ``python -m bench.http_load [--quick|--full]``; writes bench/results/http.json.
One embedded server (``ServerProcess``); ``python -m demo_app`` and
``python -m bench.raw_transfer_app`` each run under uvicorn in a process of
their own, on the same database. Owners and accounts are stored first with
the demo's own models; every load client has its own owner and pair of
accounts, so transfers never conflict, and moves 1 cent back and forth
between them. The load generator is one process of asyncio tasks,
each with its own httpx AsyncClient and keep-alive connection. At each
concurrency both apps warm up, then take turns for several windows (demo,
raw, raw, demo...) so a drift in the machine's load does not favour one;
a window counts the requests that complete within it (sent before it or in
it). CPU time of the load
generator, the app and the server is sampled over each window: on this
2-core machine all three share the cores.
"""

import argparse
import asyncio
import contextlib
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import psutil  # type: ignore[import-untyped]  # no type hints; types-psutil is not installed
from pymongo import MongoClient

from demo_app.models import Account, Owner
from demo_app.security import hash_token, new_token
from odmantic_fastapi import SyncEngine
from odmantic_fastapi.embedded import ServerProcess

from ._common import ROOT, free_port, machine, write_results

__all__ = ["APPS", "CONCURRENCY", "run"]

CONCURRENCY = (16, 64)
APPS = ("demo (odmantic_fastapi)", "raw pymongo FastAPI")
DATABASE = "bench_http"


@dataclass(frozen=True)
class Client:
    """One simulated user: a bearer token and two accounts of theirs."""

    token: str
    accounts: tuple[str, str]


@dataclass
class _App:
    process: subprocess.Popen[str]
    stderr: IO[str]
    ready_url: str

    def wait_ready(self) -> psutil.Process:
        """Block until ``ready_url`` answers 200; the app's process, for CPU sampling."""
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return psutil.Process(self.process.pid)
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stderr.seek(0)
                raise RuntimeError(
                    f"{self.process.args!r} did not start: {self.stderr.read()[-2000:]}"
                )
            time.sleep(0.1)


@contextlib.contextmanager
def _app_process(module: str, url: str, port: int, ready_path: str) -> Iterator[_App]:
    """Start ``python -m <module>`` on ``port`` (as the demo is run); stop it on exit."""
    env = {**os.environ, "MONGODB_URL": url, "MONGODB_DATABASE": DATABASE}
    env["DEMO_PORT"] = str(port)
    args = [sys.executable, "-m", module]
    if module != "demo_app":
        args += ["--port", str(port)]
    # Access logs go to stdout, dropped; stderr is kept for startup failures.
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True
        )
        try:
            yield _App(process, stderr, f"http://127.0.0.1:{port}{ready_path}")
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _set_up(url: str, count: int) -> list[Client]:
    """``count`` owners with two EUR accounts each, one funded, stored as the demo stores them."""
    owners: list[Owner] = []
    accounts: list[Account] = []
    clients: list[Client] = []
    for n in range(count):
        token = new_token()
        owner = Owner(name=f"bench {n}", token_hash=hash_token(token))
        # Transfers go back and forth, so funding the first account is enough.
        pair = (
            Account(owner_id=owner.id, currency="EUR", balance=10**9),
            Account(owner_id=owner.id, currency="EUR"),
        )
        owners.append(owner)
        accounts.extend(pair)
        clients.append(Client(token, (str(pair[0].id), str(pair[1].id))))
    mongo: MongoClient[dict[str, Any]]
    with MongoClient(url) as mongo:
        engine = SyncEngine(mongo, database=DATABASE)
        engine.save_all(owners)
        engine.save_all(accounts)
    return clients


def _usage(process: psutil.Process) -> tuple[float, float]:
    """CPU seconds used so far, and seconds spent runnable but waiting for a core (Linux)."""
    times = process.cpu_times()
    waited_ns = 0
    for stat in Path(f"/proc/{process.pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that just ended
            waited_ns += int(stat.read_text().split()[1])
    return float(times.user + times.system), waited_ns / 1e9


@dataclass
class _Window:
    """What one measured window saw."""

    seconds: float
    latencies: list[float]
    statuses: dict[str, int]
    cpu_seconds: dict[str, float]
    wait_seconds: dict[str, float]
    cpu_wall: float


async def _load(
    https: list[httpx.AsyncClient],
    clients: list[Client],
    warmup: float,
    seconds: float,
    processes: dict[str, psutil.Process],
) -> _Window:
    """Drive POST /transfers from one task per client; what the window after ``warmup`` saw."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    start = time.perf_counter()
    window_start = start + warmup
    window_end = window_start + seconds
    usage_start: dict[str, tuple[float, float]] = {}

    async def user(http: httpx.AsyncClient, client: Client) -> None:
        headers = {"Authorization": f"Bearer {client.token}"}
        source, target = client.accounts
        while True:
            sent = time.perf_counter()
            if sent >= window_end:
                return
            try:
                response = await http.post(
                    "/transfers",
                    json={"from_account": source, "to_account": target, "amount": 1},
                    headers=headers,
                )
                key = str(response.status_code)
            except httpx.TransportError as exc:
                key = type(exc).__name__
            done = time.perf_counter()
            source, target = target, source
            # A window counts what completes within it, whenever it was sent: under a
            # load where one request takes longer than the window, requiring both ends
            # inside it would count nothing.
            if window_start <= done <= window_end:
                latencies.append(done - sent)
                statuses[key] = statuses.get(key, 0) + 1

    async def sample_cpu() -> None:
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        for name, process in processes.items():
            usage_start[name] = _usage(process)

    sampler = asyncio.create_task(sample_cpu())
    await asyncio.gather(*(user(http, client) for http, client in zip(https, clients, strict=True)))
    await sampler
    # Requests still running at the deadline keep the processes busy a little
    # after it, so CPU is divided by the time until the last one finished.
    cpu_wall = time.perf_counter() - window_start
    usage = {name: _usage(p) for name, p in processes.items()}
    cpu = {name: usage[name][0] - usage_start[name][0] for name in processes}
    wait = {name: usage[name][1] - usage_start[name][1] for name in processes}
    return _Window(seconds, latencies, statuses, cpu, wait, cpu_wall)


async def _level(
    apps: dict[str, tuple[str, psutil.Process]],
    clients: list[Client],
    server: psutil.Process,
    timing: tuple[float, int, float],
) -> dict[str, list[_Window]]:
    """Warm each app up, then let them take turns for ``windows`` windows of ``seconds``."""
    warmup, windows, seconds = timing
    # One httpx client per task: httpcore's pool scans every connection on each
    # request, which at 64 connections made the load generator the bottleneck.
    # They share one SSL context: building one per client costs ~0.1 s of CPU.
    # Idle connections are dropped after 3 s, before uvicorn's 5 s keep-alive
    # timeout can close one under a request that is being sent.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=3.0)
    ssl_context = ssl.create_default_context()
    seen: dict[str, list[_Window]] = {name: [] for name in apps}
    async with contextlib.AsyncExitStack() as stack:
        pools: dict[str, list[httpx.AsyncClient]] = {}
        for name, (url, _) in apps.items():
            pools[name] = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, limits=limits, timeout=60, verify=ssl_context)
                )
                for _ in clients
            ]

        async def measure(name: str, warm: float, window: float) -> _Window:
            processes = {
                "load generator": psutil.Process(),
                "app": apps[name][1],
                "embedded server": server,
            }
            return await _load(pools[name], clients, warm, window, processes)

        for name in apps:  # the app's connection pool grows to this load
            await measure(name, warmup, 0.0)
        names = list(apps)
        for turn in range(windows):
            for name in names if turn % 2 == 0 else names[::-1]:
                # Half a second to reopen the connections that sat idle.
                seen[name].append(await measure(name, 0.5, seconds))
    return seen


def _summary(windows: list[_Window]) -> dict[str, Any]:
    latencies = sorted(x for w in windows for x in w.latencies)
    statuses: dict[str, int] = {}
    for window in windows:
        for code, n in window.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
    seconds = sum(w.seconds for w in windows)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    wall = sum(w.cpu_wall for w in windows)
    return {
        "requests_per_second": statuses.get("201", 0) / seconds,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "requests": len(latencies),
        "statuses": statuses,
        "cpu_cores_used": {
            name: sum(w.cpu_seconds[name] for w in windows) / wall
            for name in windows[0].cpu_seconds
        },
        # Runnable but not running: the share of the window a process waited for a core.
        "waiting_for_cpu": {
            name: sum(w.wait_seconds[name] for w in windows) / wall
            for name in windows[0].wait_seconds
        },
        "app_cpu_ms_per_transfer": 1000
        * sum(w.cpu_seconds["app"] for w in windows)
        / max(1, statuses.get("201", 0)),
        "windows_requests_per_second": [w.statuses.get("201", 0) / w.seconds for w in windows],
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure, and return the results as written to http.json."""
    warmup, windows, seconds = (1.5, 2, 4.0) if quick else (3.0, 4, 5.0)
    results: dict[str, Any] = {name: {} for name in APPS}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(ServerProcess())
        # Both apps start at once; each is idle while the other is measured.
        demo_port, raw_port = free_port(), free_port()
        starting = [
            stack.enter_context(_app_process("demo_app", server.url, demo_port, "/healthz")),
            stack.enter_context(
                _app_process("bench.raw_transfer_app", server.url, raw_port, "/openapi.json")
            ),
        ]
        clients = _set_up(server.url, max(CONCURRENCY))
        demo, raw = (app.wait_ready() for app in starting)
        server_process = psutil.Process(server.pid)
        apps = {
            APPS[0]: (f"http://127.0.0.1:{demo_port}", demo),
            APPS[1]: (f"http://127.0.0.1:{raw_port}", raw),
        }
        for concurrency in CONCURRENCY:
            seen = asyncio.run(
                _level(apps, clients[:concurrency], server_process, (warmup, windows, seconds))
            )
            for name in APPS:
                results[name][str(concurrency)] = _summary(seen[name])
    ratios = {
        str(c): results[APPS[0]][str(c)]["requests_per_second"]
        / results[APPS[1]][str(c)]["requests_per_second"]
        for c in CONCURRENCY
    }
    cpu_ratios = {
        str(c): results[APPS[0]][str(c)]["app_cpu_ms_per_transfer"]
        / results[APPS[1]][str(c)]["app_cpu_ms_per_transfer"]
        for c in CONCURRENCY
    }
    return {
        "mode": "quick" if quick else "full",
        "machine": machine(),
        "warmup_seconds": warmup,
        "windows": windows,
        "seconds": windows * seconds,
        "apps": results,
        "demo_throughput_over_raw": ratios,
        "demo_app_cpu_per_transfer_over_raw": cpu_ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="2 windows of 4 s (the default)")
    mode.add_argument("--full", action="store_true", help="4 windows of 5 s")
    args = parser.parse_args()
    results = run(quick=not args.full)
    path = write_results("http", results)
    for name, by_concurrency in results["apps"].items():
        for concurrency, stats in by_concurrency.items():
            cpu = ", ".join(f"{k} {v:.2f}" for k, v in stats["cpu_cores_used"].items())
            wait = ", ".join(f"{k} {v:.0%}" for k, v in stats["waiting_for_cpu"].items())
            print(
                f"{name:26s} {concurrency:>3s} clients: {stats['requests_per_second']:7.1f} req/s"
                f"  p50 {stats['p50_ms']:6.1f} ms  p99 {stats['p99_ms']:6.1f} ms"
                f"  {stats['statuses']}  app {stats['app_cpu_ms_per_transfer']:.1f} ms CPU/transfer"
                f"\n    cores used: {cpu}; waiting for a core: {wait}"
            )
    for concurrency, ratio in results["demo_throughput_over_raw"].items():
        cpu_ratio = results["demo_app_cpu_per_transfer_over_raw"][concurrency]
        print(
            f"demo / raw at {concurrency} clients: throughput {ratio:.2f}x,"
            f" app CPU per transfer {cpu_ratio:.2f}x"
        )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
