"""The comparison table: medians over rounds per mode and system, and Taskgate / baseline."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.stats import median

SYSTEMS = ("baseline", "taskgate")
# (label, section of a run's figures, key, format)
ROWS = (
    ("submit throughput, tasks/s", "submit", "tasks_per_s", "{:,.0f}"),
    ("submit latency p50, ms", "submit", "p50_ms", "{:.1f}"),
    ("submit latency p99, ms", "submit", "p99_ms", "{:.1f}"),
    ("end-to-end throughput, tasks/s", "end_to_end", "tasks_per_s", "{:,.0f}"),
    ("end-to-end latency p50, ms", "end_to_end", "p50_ms", "{:.0f}"),
    ("end-to-end latency p99, ms", "end_to_end", "p99_ms", "{:.0f}"),
    ("CPU per task: API, ms", "cpu_ms_per_task", "api", "{:.2f}"),
    ("CPU per task: worker, ms", "cpu_ms_per_task", "worker", "{:.2f}"),
    ("CPU per task: RabbitMQ, ms", "cpu_ms_per_task", "rabbitmq", "{:.2f}"),
    ("CPU per task: PostgreSQL, ms", "cpu_ms_per_task", "postgres", "{:.2f}"),
    ("CPU per task: load generator, ms", "cpu_ms_per_task", "load", "{:.2f}"),
    ("CPU per task: all of these, ms", "cpu_ms_per_task", "total", "{:.2f}"),
    ("PostgreSQL transactions per task", "postgres", "transactions_per_task", "{:.1f}"),
    ("PostgreSQL connections opened in the run", "postgres", "connections_opened", "{:.0f}"),
    ("peak RSS: API, MiB", "peak_rss_mib", "api", "{:.0f}"),
    ("peak RSS: worker, MiB", "peak_rss_mib", "worker", "{:.0f}"),
)

# Counts that are often zero for the baseline: a ratio says nothing there.
WITHOUT_RATIO = frozenset({"connections_opened"})


def modes(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The modes measured, in the order first run."""
    return list(dict.fromkeys(run["mode"] for run in runs))


def medians(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{mode: {system: {"section.key": median over rounds}}}."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for mode in modes(runs):
        result[mode] = {}
        for system in SYSTEMS:
            chosen = [run for run in runs if run["mode"] == mode and run["system"] == system]
            result[mode][system] = {
                f"{section}.{key}": median([run[section][key] for run in chosen])
                for _, section, key, _ in ROWS
            }
    return result


def table(runs: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the medians and their ratio."""
    lines = [
        "| mode | metric (median of rounds) | baseline | Taskgate | Taskgate / baseline |",
        "|---|---|--:|--:|--:|",
    ]
    for mode, by_system in medians(runs).items():
        for label, section, key, form in ROWS:
            base, gate = (by_system[system][f"{section}.{key}"] for system in SYSTEMS)
            ratio = f"{gate / base:.2f}" if base and key not in WITHOUT_RATIO else ""
            lines.append(
                f"| {mode} | {label} | {form.format(base)} | {form.format(gate)} | {ratio} |"
            )
        failed = [_failed_submits(runs, mode, system) for system in SYSTEMS]
        lines.append(
            f"| {mode} | failed submit requests, all rounds | {failed[0]} | {failed[1]} | |"
        )
    return "\n".join(lines)


def _failed_submits(runs: Sequence[dict[str, Any]], mode: str, system: str) -> int:
    return sum(
        sum(run["submit"]["failures"].values())
        for run in runs
        if run["mode"] == mode and run["system"] == system
    )


def write_summary(runs: Sequence[dict[str, Any]], path: Path, *, command: str) -> None:
    """The medians and each run's figures (without its series) as JSON."""
    compact = [{k: v for k, v in run.items() if k != "series"} for run in runs]
    path.write_text(
        json.dumps({"command": command, "medians": medians(runs), "runs": compact}, indent=2) + "\n"
    )
