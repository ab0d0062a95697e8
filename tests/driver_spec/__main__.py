"""``python -m tests.driver_spec [CATEGORY ...]``: MongoDB's unified driver spec tests against the embedded server.

The pymongo source distribution matching the installed pymongo is downloaded
with pip once and cached outside the repository (see ``_upstream.cache_root``);
its runner (``test/unified_format.py``) runs each category's JSON files against
a fresh embedded server, one pytest process per category, every test with a
time limit. Printed: per-category passed/failed/skipped, then the failures
grouped by cause. The exit status is 0 when no test failed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ._plugin import OUTCOMES_ENV, TEST_COMMANDS_ENV, TIMEOUT_ENV
from ._upstream import CATEGORIES, Category, prepare

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    category: Category
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for value, _ in self.outcomes.values() if value == outcome)


class Server:
    """A fresh in-memory embedded server in a child process, with the options asked for."""

    def __init__(self, extra_args: list[str]) -> None:
        args = [sys.executable, "-m", "odmantic_fastapi.embedded", "--host", "127.0.0.1"]
        args += ["--port", "0", "--in-memory", *extra_args]
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=ROOT
        )
        assert self.process.stdout is not None
        url = self.process.stdout.readline().strip()
        if not url.startswith("mongodb://"):
            self.stop()
            raise RuntimeError(f"the embedded server did not start: {url!r}")
        # Drain anything printed later, so a full pipe never blocks the server.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        host, port = url.removeprefix("mongodb://").split("/")[0].rsplit(":", 1)
        self.host, self.port = host, int(port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _supports_test_commands() -> bool:
    command = [sys.executable, "-m", "odmantic_fastapi.embedded", "--help"]
    text = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return "--enable-test-commands" in text


def _run_category(
    tree: Path, category: Category, args: argparse.Namespace, server_args: list[str]
) -> Result:
    result = Result(category)
    server = Server(server_args)
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            outcomes = Path(scratch) / "outcomes.jsonl"
            outcomes.touch()
            env = {
                **os.environ,
                "DB_IP": server.host,
                "DB_PORT": str(server.port),
                OUTCOMES_ENV: str(outcomes),
                TIMEOUT_ENV: str(args.timeout),
                TEST_COMMANDS_ENV: "1" if args.test_commands else "0",
                "PYTHONPATH": os.pathsep.join([str(tree), str(ROOT)]),
            }
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            command += ["-p", "tests.driver_spec._plugin", "-c", str(tree / "pytest.ini")]
            command += ["--rootdir", str(tree), f"test/{category.module}.py"]
            if args.keyword:
                command += ["-k", args.keyword]
            quiet = subprocess.DEVNULL if not args.verbose else None
            try:
                subprocess.run(
                    command, cwd=tree, env=env, stdout=quiet, timeout=args.category_timeout
                )
            except subprocess.TimeoutExpired:
                result.error = f"went over the category time limit of {args.category_timeout} s"
            for line in outcomes.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                nodeid = record["nodeid"]
                previous = result.outcomes.get(nodeid)
                # A failure in any phase (setup, call, teardown) makes the test a failure.
                if previous is None or (
                    previous[0] != "failed"
                    and (previous[0] == "passed" or record["outcome"] == "failed")
                ):
                    result.outcomes[nodeid] = (record["outcome"], record["message"])
    finally:
        server.stop()
        result.seconds = time.monotonic() - began
    return result


def _cause(message: str) -> str:
    """A failure's message reduced to what groups it: first line, numbers and ids blanked."""
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    first = re.sub(r"ObjectId\('[0-9a-f]{24}'\)", "ObjectId(...)", first)
    first = re.sub(r"\b\d{3,}\b", "N", first)
    return first[:200]


def _print(results: list[Result], show_tests: bool) -> None:
    print("\n=== per category")
    print(f"{'category':30} {'passed':>7} {'failed':>7} {'skipped':>8} {'ran':>5} {'fail %':>7}")
    totals: Counter[str] = Counter()
    for result in results:
        passed, failed = result.count("passed"), result.count("failed")
        skipped = result.count("skipped")
        ran = passed + failed
        share = f"{100 * failed / ran:.1f}" if ran else "-"
        note = f"  ({result.error})" if result.error else ""
        print(
            f"{result.category.name:30} {passed:7} {failed:7} {skipped:8} {ran:5} {share:>7}"
            f"  {result.seconds:5.0f} s{note}"
        )
        totals.update(passed=passed, failed=failed, skipped=skipped)
    print(
        f"{'total':30} {totals['passed']:7} {totals['failed']:7} {totals['skipped']:8} "
        f"{totals['passed'] + totals['failed']:5}"
    )
    causes: dict[str, list[str]] = defaultdict(list)
    for result in results:
        for nodeid, (outcome, message) in result.outcomes.items():
            if outcome == "failed":
                causes[_cause(message)].append(
                    f"{result.category.name}: {nodeid.split('::', 1)[1]}"
                )
    if causes:
        print("\n=== failures by cause")
    for cause, tests in sorted(causes.items(), key=lambda item: (-len(item[1]), item[0])):
        print(f"\n[{len(tests)}] {cause}")
        for test in sorted(tests) if show_tests else []:
            print(f"    {test}")


def main(argv: list[str] | None = None) -> int:
    names = [category.name for category in CATEGORIES]
    parser = argparse.ArgumentParser(prog="python -m tests.driver_spec", description=__doc__)
    parser.add_argument("categories", nargs="*", metavar="CATEGORY", help=", ".join(names))
    parser.add_argument("--timeout", type=float, default=30.0, help="per test, seconds (30)")
    parser.add_argument(
        "--category-timeout", type=float, default=1800.0, help="per category, seconds (1800)"
    )
    parser.add_argument(
        "--test-commands",
        action="store_true",
        help="start the server with --enable-test-commands (fail points), if it has that option",
    )
    parser.add_argument("-k", dest="keyword", help="only the tests pytest's -k expression selects")
    parser.add_argument(
        "--tests", action="store_true", help="list each failed test under its cause"
    )
    parser.add_argument("--json", type=Path, help="also write every outcome to this JSON file")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.categories) - set(names))
    if unknown:
        parser.error(f"unknown categories {unknown}; choose from {names}")
    chosen = [c for c in CATEGORIES if not args.categories or c.name in args.categories]
    server_args: list[str] = []
    if args.test_commands:
        if not _supports_test_commands():
            parser.error("this embedded server has no --enable-test-commands option")
        server_args.append("--enable-test-commands")
    tree = prepare()
    results = []
    for category in chosen:
        print(f"=== {category.name}", flush=True)
        results.append(_run_category(tree, category, args, server_args))
    _print(results, args.tests)
    if args.json is not None:
        data = {
            r.category.name: {
                node: {"outcome": o, "message": m} for node, (o, m) in r.outcomes.items()
            }
            for r in results
        }
        args.json.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    return 0 if all(r.count("failed") == 0 and not r.error for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
