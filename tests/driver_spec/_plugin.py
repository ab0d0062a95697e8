"""The pytest plugin loaded into pymongo's test run: a per-test time limit, outcomes as JSON lines, shims."""

import importlib
import json
import os
import signal
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

__all__ = ["OUTCOMES_ENV", "TEST_COMMANDS_ENV", "TIMEOUT_ENV", "SpecTestTimeout"]

OUTCOMES_ENV = "ODMANTIC_FASTAPI_SPEC_OUTCOMES"
TIMEOUT_ENV = "ODMANTIC_FASTAPI_SPEC_TIMEOUT"
TEST_COMMANDS_ENV = "ODMANTIC_FASTAPI_SPEC_TEST_COMMANDS"


class SpecTestTimeout(Exception):
    """A spec test went over the runner's per-test time limit."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise SpecTestTimeout(f"went over the per-test time limit of {os.environ[TIMEOUT_ENV]} s")


def _shim_enable_test_commands() -> None:
    """pymongo's test context reads getParameter('*')["enableTestCommands"] without a default.

    A server that does not report the parameter has no test commands; the shim
    adds the parameter with the value the runner started the server with, and
    only when the server's own reply lacks it.
    """
    from pymongo.synchronous.database import Database

    # pymongo's test package, from the cached source distribution (no type information).
    test = importlib.import_module("test")

    original_init = test.ClientContext._init_client
    enabled = os.environ.get(TEST_COMMANDS_ENV) == "1"

    def init_client(self: Any) -> None:
        original_command = Database.command

        def command(db: Any, cmd: Any, *args: Any, **kwargs: Any) -> Any:
            reply = original_command(db, cmd, *args, **kwargs)
            if cmd == "getParameter" and args[:1] == ("*",) and isinstance(reply, dict):
                reply.setdefault("enableTestCommands", enabled)
            return reply

        # Only while the context connects; setattr, since mypy rightly refuses assigning a method.
        setattr(Database, "command", command)  # noqa: B010
        try:
            original_init(self)
        finally:
            setattr(Database, "command", original_command)  # noqa: B010

    test.ClientContext._init_client = init_client


def pytest_configure(config: pytest.Config) -> None:
    _shim_enable_test_commands()
    signal.signal(signal.SIGALRM, _alarm)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    signal.setitimer(signal.ITIMER_REAL, float(os.environ[TIMEOUT_ENV]))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(report.longrepr)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        record = {
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "message": "" if report.passed else _message(report),
            "seconds": round(report.duration, 3),
        }
        with open(os.environ[OUTCOMES_ENV], "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
