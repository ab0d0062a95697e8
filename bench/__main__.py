"""``python -m bench [--quick|--full] [--only PART ...] [--report]``: run the benchmarks.

Each part writes bench/results/<part>.json; then the PNG charts are drawn and
docs/benchmarks.md is regenerated from every results file present.
--quick (the default) takes under two minutes, --full about ten to fifteen.
"""

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from . import concurrency, embedded_server, end_to_end, http_load, odm
from ._common import load_results, write_results
from .charts import draw_all
from .report import DOC, targets, write_report

__all__ = ["PARTS", "main"]

PARTS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "odm": odm.run,
    "end_to_end": end_to_end.run,
    "embedded_server": embedded_server.run,
    "http": http_load.run,
    "concurrency": concurrency.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the short run (the default)")
    mode.add_argument("--full", action="store_true", help="more rounds, full counts, longer")
    mode.add_argument("--report", action="store_true", help="only redraw charts and the doc")
    parser.add_argument("--only", action="append", choices=list(PARTS), help="run this part")
    args = parser.parse_args()
    started = time.perf_counter()
    if not args.report:
        for name in args.only or PARTS:
            print(f"{name}: running ({'full' if args.full else 'quick'})...", flush=True)
            part_started = time.perf_counter()
            path = write_results(name, PARTS[name](not args.full))
            gc.collect()
            print(f"{name}: {time.perf_counter() - part_started:.0f} s, written to {path}")
    results = {name: load_results(name) for name in PARTS}
    for path in draw_all(results):
        print(f"chart: {path}")
    write_report(results)
    print(f"report: {DOC}")
    for target in targets(results):
        verdict = "MET" if target.met else "NOT MET"
        print(f"  {verdict:8s} {target.section}: {target.goal}: {target.figure}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
