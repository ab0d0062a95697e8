"""PNG charts of the results JSON (matplotlib, Agg backend), written next to it in bench/results/."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display here

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from ._common import RESULTS

__all__ = ["draw_all"]

_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def _bars(
    ax: Axes, groups: list[str], series: dict[str, list[float]], *, labels: bool = True
) -> None:
    """Grouped bars: one group per entry of ``groups``, one bar per series."""
    width = 0.8 / len(series)
    for n, (name, values) in enumerate(series.items()):
        xs = [i + (n - (len(series) - 1) / 2) * width for i in range(len(groups))]
        bars = ax.bar(xs, values, width, label=name, color=_COLOURS[n % len(_COLOURS)])
        if labels:
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)


def _save(fig: Any, name: str) -> Path:
    path = RESULTS / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def odm_chart(results: dict[str, Any]) -> Path:
    contenders = results["contenders"]
    names = list(contenders)
    fig, ax = plt.subplots(figsize=(8, 4))
    _bars(
        ax,
        names,
        {
            "parse 10k": [contenders[n]["parse_ratio_to_pydantic"] for n in names],
            "dump 10k": [contenders[n]["dump_ratio_to_pydantic"] for n in names],
        },
    )
    ax.axhline(1.3, color="grey", linestyle="--", linewidth=1, label="target 1.3x")
    ax.set_ylabel("time / plain pydantic's")
    ax.margins(y=0.1)
    ax.set_title(f"ODM cost in memory, 10k documents ({results['mode']} run)")
    ax.legend(fontsize=8)
    return _save(fig, "odm.png")


def end_to_end_chart(results: dict[str, Any]) -> Path:
    contenders = {k: v for k, v in results["contenders"].items() if k != results["baseline"]}
    operations = list(results["counts"])
    fig, ax = plt.subplots(figsize=(10, 4.5))
    _bars(
        ax,
        [f"{op}\n{results['counts'][op]:,}" for op in operations],
        {name: [ops[op]["ratio_to_raw"] for op in operations] for name, ops in contenders.items()},
    )
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=1, label="raw pymongo async")
    ax.axhline(1.5, color="grey", linestyle="--", linewidth=1, label="insert target 1.5x")
    ax.set_ylabel("time / raw pymongo async's (log)")
    ax.set_title(f"ODM end to end on the embedded server ({results['mode']} run)")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, "end_to_end.png")


def http_chart(results: dict[str, Any]) -> Path:
    apps = results["apps"]
    names = list(apps)
    levels = list(next(iter(apps.values())))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    _bars(
        left,
        [f"{c} clients" for c in levels],
        {name: [apps[name][c]["requests_per_second"] for c in levels] for name in names},
    )
    left.set_ylabel("transfers per second")
    left.set_title("Throughput")
    left.margins(y=0.25)
    left.legend(fontsize=8, loc="upper right")
    series: dict[str, list[float]] = {}
    for name in names:
        short = name.split(" ")[0]
        series[f"{short} p50"] = [apps[name][c]["p50_ms"] for c in levels]
        series[f"{short} p99"] = [apps[name][c]["p99_ms"] for c in levels]
    _bars(right, [f"{c} clients" for c in levels], series, labels=False)
    right.set_ylabel("latency (ms)")
    right.set_title("Latency")
    right.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"POST /transfers under uvicorn ({results['mode']} run)")
    return _save(fig, "http.png")


def embedded_server_chart(results: dict[str, Any]) -> Path:
    sizes = list(results["sizes"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    operations = [op for op in results["sizes"][sizes[0]] if not op.startswith(("full", "insert"))]
    _bars(
        left,
        [op.replace(" ", "\n", 1) for op in operations],
        {
            f"{int(size):,} docs": [
                results["sizes"][size][op]["ratio_to_floor"] for op in operations
            ]
            for size in sizes
        },
    )
    left.axhline(1.0, color="black", linewidth=1)
    left.set_ylabel("rate / floor's")
    left.set_title("Indexed operations and transactions")
    left.legend(fontsize=8)
    counts = [int(size) for size in sizes]
    for op in (*operations[:2], "full scan (unindexed find_one)"):
        right.plot(
            counts,
            [1000 / results["sizes"][size][op]["per_second"] for size in sizes],
            marker="o",
            label=op,
        )
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("documents in the collection")
    right.set_ylabel("ms per operation (log)")
    right.set_title("Indexed stays flat, a scan grows")
    right.legend(fontsize=8)
    fig.suptitle(f"Embedded server ({results['mode']} run)")
    return _save(fig, "embedded_server.png")


def concurrency_chart(results: dict[str, Any]) -> Path:
    workloads = results["workloads"]
    names = list(workloads)
    levels = list(next(iter(workloads.values())))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    _bars(
        left,
        [name.replace(" ", "\n", 1) for name in names],
        {
            f"{level} clients": [results["server_over_floor"][name][level] for name in names]
            for level in levels
        },
    )
    left.axhline(1.0, color="black", linewidth=1)
    left.axhline(0.6, color="grey", linestyle="--", linewidth=1, label="find_one target 0.6x")
    left.set_ylabel("server rate / floor's at the same concurrency")
    left.set_title("Against the floor")
    left.legend(fontsize=8)
    counts = [int(level) for level in levels]
    for n, name in enumerate(names):
        colour = _COLOURS[n % len(_COLOURS)]
        by_level = workloads[name]
        right.plot(
            counts,
            [by_level[level]["embedded server"]["per_second"] for level in levels],
            marker="o",
            color=colour,
            label=name,
        )
        right.plot(
            counts,
            [by_level[level]["floor"]["per_second"] for level in levels],
            linestyle=":",
            color=colour,
        )
    right.set_xscale("log")
    right.set_xticks(counts, [str(c) for c in counts])
    right.set_xlabel("concurrent clients")
    right.set_ylabel("operations per second")
    right.set_title("Server (solid) and floor (dotted)")
    right.legend(fontsize=8)
    fig.suptitle(f"Embedded server under concurrent pymongo async clients ({results['mode']} run)")
    return _save(fig, "concurrency.png")


def draw_all(results: dict[str, dict[str, Any] | None]) -> list[Path]:
    """Draw every chart whose results are present; returns the files written."""
    drawers = {
        "odm": odm_chart,
        "end_to_end": end_to_end_chart,
        "http": http_chart,
        "embedded_server": embedded_server_chart,
        "concurrency": concurrency_chart,
    }
    RESULTS.mkdir(exist_ok=True)
    return [draw(data) for name, draw in drawers.items() if (data := results.get(name))]
