"""The demo as users run it: ``python -m demo_app`` in a process of its own, on the session's server."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest


@contextlib.contextmanager
def running_demo(mongodb_url: str, database: str) -> Iterator[str]:
    """Start ``python -m demo_app`` on a free port; yields its URL once /healthz answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DATABASE": database,
        "DEMO_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "demo_app"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"demo did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(15)
        if process.stderr:
            process.stderr.close()


@pytest.fixture
def demo_url(mongodb_url: str, mongodb_database_name: str) -> Iterator[str]:
    with running_demo(mongodb_url, mongodb_database_name) as url:
        yield url
