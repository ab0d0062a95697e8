"""``python -m tests.reliability [--full]``: every reliability check of issue #9, figures printed.

CI size by default (what ``pytest`` runs anyway, about two minutes); ``--full``
multiplies example counts, kill rounds and the soak's length by ``--scale``
(10 by default) and runs the property tests of tests/properties once per seed.
Each step is a pytest run in a subprocess with a time limit; the exit status
is 0 only when every step passed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ._support import FIGURES_ENV, SCALE_ENV

ROOT = Path(__file__).resolve().parents[2]

# The parts of #9 that live elsewhere: run once, they take no scale.
ELSEWHERE = [
    "tests/embedded/test_wire_fuzz.py",
    "tests/embedded/test_durability.py",
    "tests/fastapi/test_responses_and_retries.py::test_a_client_that_disconnects_mid_request_leaves_all_or_nothing",
    "tests/demo/test_money_flow.py::test_a_failed_transfer_leaves_balances_and_history_unchanged",
]


@dataclass
class Step:
    name: str
    args: list[str]
    timeout: float
    passed: bool = False
    seconds: float = 0.0


def _steps(full: bool, scale: float) -> list[Step]:
    reliability = Step("tests/reliability", ["tests/reliability"], 3600 if full else 600)
    if not full:
        properties = [Step("tests/properties", ["tests/properties"], 600)]
    else:
        # Those tests fix max_examples in their own @settings, which no profile overrides;
        # a new seed per run draws new examples instead.
        properties = [
            Step(
                f"tests/properties seed {seed}",
                ["tests/properties", f"--hypothesis-seed={seed}"],
                900,
            )
            for seed in range(1, round(scale) + 1)
        ]
    elsewhere = Step("done elsewhere (#9)", ELSEWHERE, 900)
    return [reliability, *properties, elsewhere]


def _run(step: Step, env: dict[str, str]) -> None:
    print(f"\n=== {step.name} (time limit {step.timeout:.0f} s)", flush=True)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *step.args]
    began = time.monotonic()
    try:
        step.passed = (
            subprocess.run(command, cwd=ROOT, env=env, timeout=step.timeout).returncode == 0
        )
    except subprocess.TimeoutExpired:
        print(f"!!! {step.name} went over its time limit", flush=True)
    step.seconds = time.monotonic() - began


def _print_figures(path: Path) -> None:
    print("\n=== figures")
    for line in path.read_text(encoding="utf-8").splitlines():
        figures = json.loads(line)
        print(f"- {figures.pop('check')} (scale {figures.pop('scale')}):")
        for key, value in figures.items():
            if isinstance(value, dict):
                print(f"    {key}:")
                for inner, item in value.items():
                    print(f"        {inner}: {item}")
            else:
                print(f"    {key}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the long versions (several minutes)")
    parser.add_argument(
        "--scale", type=float, default=10.0, help="with --full: how much bigger (default 10)"
    )
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be at least 1")
    scale = args.scale if args.full else 1.0
    with tempfile.TemporaryDirectory() as scratch:
        figures = Path(scratch) / "figures.jsonl"
        figures.touch()
        env = {**os.environ, SCALE_ENV: str(scale), FIGURES_ENV: str(figures)}
        steps = _steps(args.full, scale)
        began = time.monotonic()
        for step in steps:
            _run(step, env)
        _print_figures(figures)
    print(f"\n=== summary ({'full, scale ' + str(scale) if args.full else 'CI size'})")
    for step in steps:
        print(f"{'passed' if step.passed else 'FAILED'}  {step.seconds:7.1f} s  {step.name}")
    print(f"total {time.monotonic() - began:.0f} s")
    return 0 if all(step.passed for step in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
