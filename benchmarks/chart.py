"""The README's chart: tasks finished over time and the end-to-end latency distribution,
Taskgate against the baseline, for each mode (matplotlib, from the `bench` extra)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.report import SYSTEMS, modes

COLOURS = {"baseline": "tab:blue", "taskgate": "tab:orange"}


def representative(runs: Sequence[dict[str, Any]], mode: str, system: str) -> dict[str, Any]:
    """The round whose end-to-end throughput is the median one (the lower middle)."""
    chosen = sorted(
        (run for run in runs if run["mode"] == mode and run["system"] == system),
        key=lambda run: run["end_to_end"]["tasks_per_s"],
    )
    return chosen[(len(chosen) - 1) // 2]


def write_chart(runs: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    measured = modes(runs)
    figure, axes = plt.subplots(len(measured), 2, figsize=(12, 3.8 * len(measured)), squeeze=False)
    for row, mode in enumerate(measured):
        chosen = {system: representative(runs, mode, system) for system in SYSTEMS}
        every_latency = [
            value for run in chosen.values() for value in run["series"]["latencies_ms"]
        ]
        bins = np.geomspace(max(min(every_latency), 1.0), max(every_latency), 60)
        for system, run in chosen.items():
            series = run["series"]
            width = series["bucket_seconds"]
            counts = series["finished_per_bucket"]
            label = f"{system}: {run['end_to_end']['tasks_per_s']:,.0f} tasks/s"
            axes[row][0].step(
                [index * width for index in range(len(counts))],
                [count / width for count in counts],
                where="post",
                color=COLOURS[system],
                label=label,
            )
            p50 = run["end_to_end"]["p50_ms"]
            axes[row][1].hist(
                series["latencies_ms"],
                bins=bins,
                alpha=0.55,
                color=COLOURS[system],
                label=f"{system}: p50 {p50:,.0f} ms",
            )
        tasks, concurrency = chosen["taskgate"]["tasks"], chosen["taskgate"]["concurrency"]
        axes[row][0].set_title(f"{mode} submits: tasks finished per second (100 ms buckets)")
        axes[row][0].set_xlabel("seconds since the first task was created")
        axes[row][0].set_ylabel("tasks/s")
        axes[row][1].set_title(f"{mode} submits: end-to-end latency (N={tasks:,}, C={concurrency})")
        axes[row][1].set_xscale("log")
        axes[row][1].set_xlabel("finished_at − created_at, ms (log scale)")
        axes[row][1].set_ylabel("tasks")
        for axis in axes[row]:
            axis.legend(loc="upper right")
            axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
