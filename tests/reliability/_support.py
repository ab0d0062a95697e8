"""Shared by the reliability tests: the scale knob, figure reporting, and the demo as a process."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings

__all__ = [
    "FIGURES_ENV",
    "FULL",
    "SCALE",
    "SCALE_ENV",
    "DemoProcess",
    "free_port",
    "hypothesis_settings",
    "open_account",
    "record_figures",
    "running_demo",
    "scaled",
    "sign_up",
]

# RELIABILITY_SCALE=1 (the default) is the CI size; `python -m tests.reliability --full`
# sets a larger one. Every test multiplies its example counts, rounds and durations by it.
SCALE_ENV = "RELIABILITY_SCALE"
# When set, each test appends one JSON line of figures to this file (the runner reads it).
FIGURES_ENV = "RELIABILITY_FIGURES"


def _scale() -> float:
    raw = os.environ.get(SCALE_ENV, "1")
    try:
        value = float(raw)
    except ValueError:
        raise RuntimeError(f"{SCALE_ENV} must be a number >= 1, got {raw!r}") from None
    if value < 1:
        raise RuntimeError(f"{SCALE_ENV} must be a number >= 1, got {raw!r}")
    return value


SCALE = _scale()
FULL = SCALE > 1

# CI runs replay the same examples every time (derandomized), so a red CI run is a
# regression and not a lucky draw; full runs explore new examples on every run.
settings.register_profile(
    "reliability-ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "reliability-full",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = "reliability-full" if FULL else "reliability-ci"


def scaled(value: float) -> int:
    """``value`` times the scale, rounded; at least 1."""
    return max(1, round(value * SCALE))


def hypothesis_settings(max_examples: int) -> settings:
    """The reliability profile with ``max_examples`` scaled."""
    return settings(settings.get_profile(PROFILE), max_examples=scaled(max_examples))


def record_figures(check: str, figures: dict[str, Any]) -> None:
    """Print the figures a check measured, and hand them to the runner when it asked."""
    line = json.dumps({"check": check, "scale": SCALE, **figures}, sort_keys=True)
    print(f"[reliability] {line}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DemoProcess:
    url: str
    process: "subprocess.Popen[bytes]"
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def running_demo(
    mongodb_url: str, database: str, log: Path, *, startup_timeout: float = 30.0
) -> Iterator[DemoProcess]:
    """``python -m demo_app`` (uvicorn) on a free port, its output in ``log``.

    Unlike tests/demo's helper this never pipes the child's output: under load, or
    while the database is down, it logs more than a pipe buffer holds and would block.
    """
    port = free_port()
    env = {
        **os.environ,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DATABASE": database,
        "DEMO_PORT": str(port),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo_app"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the demo did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield DemoProcess(url=url, process=process, log=log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def sign_up(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    """A new owner's bearer-token headers."""
    signup = await api.post("/owners", json={"name": name})
    assert signup.status_code == 201, signup.text
    return {"Authorization": f"Bearer {signup.json()['token']}"}


async def open_account(api: httpx.AsyncClient, auth: dict[str, str]) -> str:
    """The id of a new EUR account of the owner ``auth`` authenticates."""
    opened = await api.post("/accounts", json={"currency": "EUR"}, headers=auth)
    assert opened.status_code == 201, opened.text
    return str(opened.json()["id"])
