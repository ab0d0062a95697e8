"""Where the demo's CPU goes per transfer: py-spy samples of the uvicorn process under load, by layer.

Usage: ``python -m bench.profile_http [--seconds N] [--clients N] [--app demo|raw]``
(needs ``py-spy`` on PATH or beside the interpreter, and permission to attach to a
child process); writes bench/results/profile_http_<app>.json.
The same set-up as ``bench.http_load``: one embedded server, the app under
uvicorn, 64 clients moving money between their own accounts. py-spy samples the
app's busy threads; each sample is charged to one layer, read from the root of
its stack to the leaf (see ``_RULES``: a layer includes the driver and pydantic
work done on its behalf); samples of threads waiting for work are left out.
The share of samples times the app's CPU per transfer, measured over a window
of the same length without the profiler, is the CPU per transfer of a layer.
"""

import argparse
import asyncio
import contextlib
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]  # no type hints; types-psutil is not installed

from odmantic_fastapi.embedded import ServerProcess

from ._common import free_port, machine, write_results
from .http_load import _app_process, _load, _set_up

__all__ = ["LAYERS", "classify", "run"]

# (layer, substrings of a frame "function (file:line)"): a sample is charged to
# the first layer any of its frames matches, in this order, so a layer includes
# the driver and pydantic work done on its behalf (the token lookup's query is
# the auth layer's, the commit the request transaction's).
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "response validation and serialisation",
        (
            "serialize_response",
            "_prepare_response_content",
            "jsonable_encoder",
            "JSONResponse.",
            "transfer_out (",
        ),
    ),
    ("auth (token lookup)", ("demo_app/security.py",)),
    (
        "request transaction (begin, commit)",
        ("RequestDatabase.finish", "RequestDatabase.transaction", "get_transaction ("),
    ),
    ("ODM reads and writes", ("demo_app/routes/", "demo_app/models.py")),
    ("endpoint on raw pymongo (hand-written)", ("create_app.<locals>.transfer (",)),
    ("idempotency", ("demo_app/idempotency.py",)),
    ("dependency resolution", ("fastapi/dependencies/",)),
    ("routing and request body validation", ("fastapi/routing.py", "starlette/routing.py")),
    (
        "middleware",
        (
            "odmantic_fastapi/middleware.py",
            "starlette/middleware/",
            "fastapi/middleware/",
            "fastapi/_body_limit.py",
            "fastapi/telemetry/",
            "uvicorn/middleware/",
        ),
    ),
    ("uvicorn and h11 (HTTP parsing, ASGI)", ("uvicorn/protocols/", "h11/", "httptools")),
)
LAYERS = (*(name for name, _ in _RULES), "event loop and driver I/O outside a request")


def classify(frames: list[str]) -> str:
    """The layer one sampled stack (root first) is charged to."""
    for name, needles in _RULES:
        if any(n in frame for frame in frames for n in needles):
            return name
    return LAYERS[-1]


def _leaf_group(frames: list[str]) -> str:
    """Which code the sample was in at its leaf: ours, the driver, pydantic, or other."""
    leaf = frames[-1] if frames else ""
    for group, needles in (
        ("driver (pymongo, bson)", ("pymongo/", "bson/")),
        ("pydantic", ("pydantic",)),
        ("odmantic_fastapi", ("odmantic_fastapi/",)),
        ("fastapi and starlette", ("fastapi/", "starlette/")),
        ("uvicorn and h11", ("uvicorn/", "h11/")),
        ("asyncio", ("asyncio/",)),
    ):
        if any(n in leaf for n in needles):
            return group
    return "other"


def _py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    return found


def _parse(raw: Path) -> tuple[Counter[str], dict[str, Counter[str]], int]:
    layers: Counter[str] = Counter()
    leaves: dict[str, Counter[str]] = {name: Counter() for name in LAYERS}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        # py-spy's raw format: process;thread;frame;frame... count
        frames = stack.split(";")[2:]
        if not frames or any(frames[-1].startswith(idle) for idle in _IDLE):
            continue
        n = int(count)
        layer = classify(frames)
        layers[layer] += n
        leaves[layer][_leaf_group(frames)] += n
        total += n
    return layers, leaves, total


async def _drive(url: str, clients: list[Any], seconds: float, app: psutil.Process) -> Any:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=30.0)
    context = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        https = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, limits=limits, timeout=60, verify=context)
            )
            for _ in clients
        ]
        await _load(https, clients, 2.0, 0.0, {"app": app})  # warm-up
        return await _load(https, clients, 0.5, seconds, {"app": app})


# Leaf frames of a thread waiting for work (py-spy's blocking mode samples idle threads too).
_IDLE = ("Condition.wait", "EpollSelector.select", "_worker (concurrent", "Queue.get")


def run(seconds: float, concurrency: int, which: str, keep: Path | None = None) -> dict[str, Any]:
    """Profile one app under load; returns what profile_http.json holds."""
    module, ready = {
        "demo": ("demo_app", "/healthz"),
        "raw": ("bench.raw_transfer_app", "/openapi.json"),
    }[which]
    with contextlib.ExitStack() as stack:
        # py-spy's raw stacks are megabytes: parsed here, not kept.
        raw = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "stacks.txt"
        server = stack.enter_context(ServerProcess())
        port = free_port()
        app = stack.enter_context(_app_process(module, server.url, port, ready))
        clients = _set_up(server.url, concurrency)
        process = app.wait_ready()
        # CPU per transfer from a window without the profiler, whose pauses cost the app CPU.
        window = asyncio.run(_drive(f"http://127.0.0.1:{port}", clients, seconds, process))
        # Blocking samples (py-spy pauses the process for each): a stack read while
        # the process runs can be torn, and charge time to the wrong function.
        spy = subprocess.Popen(
            [
                _py_spy(),
                "record",
                "--pid",
                str(process.pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        asyncio.run(_drive(f"http://127.0.0.1:{port}", clients, seconds, process))
        spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        spy.wait(60)
        layers, leaves, total = _parse(raw)
        if keep is not None:
            shutil.copyfile(raw, keep)
    transfers = window.statuses.get("201", 0)
    cpu_ms = window.cpu_seconds["app"] * 1000 / max(1, transfers)
    return {
        "machine": machine(),
        "app": which,
        "clients": concurrency,
        "seconds": seconds,
        "transfers": transfers,
        "statuses": window.statuses,
        "app_cpu_ms_per_transfer": cpu_ms,
        "samples": total,
        "layers": {
            name: {
                "share": layers[name] / max(1, total),
                "cpu_ms_per_transfer": cpu_ms * layers[name] / max(1, total),
                "leaf": {g: n / max(1, layers[name]) for g, n in leaves[name].most_common()},
            }
            for name in LAYERS
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--app", choices=("demo", "raw"), default="demo")
    parser.add_argument("--stacks", type=Path, help="keep py-spy's raw stacks in this file")
    args = parser.parse_args()
    results = run(args.seconds, args.clients, args.app, args.stacks)
    out = write_results(f"profile_http_{args.app}", results)
    print(
        f"{args.app}: {results['transfers']} transfers, {results['samples']} samples,"
        f" app CPU {results['app_cpu_ms_per_transfer']:.2f} ms per transfer"
    )
    for name, layer in sorted(results["layers"].items(), key=lambda kv: -kv[1]["share"]):
        leaf = ", ".join(f"{g} {s:.0%}" for g, s in layer["leaf"].items())
        print(f"  {layer['share']:6.1%} {layer['cpu_ms_per_transfer']:6.2f} ms  {name}  ({leaf})")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
