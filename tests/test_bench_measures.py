"""The benchmark's own arithmetic and /proc accounting (the harness itself is exercised by
`make bench N=1000 ROUNDS=1`: it needs the bench extra and about a minute)."""

import math
import os

from benchmarks import procfs
from benchmarks.cpu import _kind
from benchmarks.report import table
from benchmarks.stats import buckets, percentile, rates_by_part, seconds_to_reach


def test_percentile_is_the_nearest_rank():
    values = [float(n) for n in range(100, 0, -1)]

    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert math.isnan(percentile([], 50))


def test_buckets_count_offsets_per_width():
    assert buckets([0.0, 0.05, 0.1, 0.35], 0.1) == [2, 1, 0, 1]
    assert buckets([], 0.1) == []


def test_postgres_processes_are_told_apart_by_their_title():
    database = "taskgate_bench"
    ours = "postgres: 15/main: postgres taskgate_bench 127.0.0.1(41018) idle"
    longer_name = "postgres: 15/main: postgres taskgate_bench_baseline 127.0.0.1(41019) idle"
    vacuum = "postgres: 15/main: autovacuum worker taskgate_bench"

    assert _kind(ours, database) == "run"
    assert _kind(vacuum, database) == "run"
    assert _kind(longer_name, database) == "other"
    assert _kind("postgres: 15/main: postgres other [local] idle", database) == "other"
    assert _kind("postgres: 15/main: walwriter", database) == "background"
    assert _kind("/usr/lib/postgresql/15/bin/postgres -D /var/lib/x", database) == "background"


def test_proc_stat_reads_this_process_cpu_and_parent():
    # Given this process's CPU so far
    before = procfs.cpu_seconds(os.getpid())

    # When it spins for a while
    while procfs.cpu_seconds(os.getpid()) < before + 0.05:
        sum(range(10_000))

    # Then the CPU grew, and the parent and memory fields are read
    found = procfs.stat(os.getpid())
    assert found is not None and found.ppid == os.getppid()
    # RSS first: the peak read after it can only be as high or higher.
    rss = procfs.memory_kib(os.getpid(), "VmRSS")
    assert procfs.memory_kib(os.getpid(), "VmHWM") >= rss > 0


def test_table_shows_medians_and_the_ratio():
    def run(system: str, tasks_per_s: float) -> dict[str, object]:
        figures = {"tasks_per_s": tasks_per_s, "p50_ms": 1.0, "p99_ms": 2.0}
        return {
            "mode": "single",
            "system": system,
            "submit": {**figures, "failures": {"503": 1} if system == "taskgate" else {}},
            "end_to_end": figures,
            "cpu_ms_per_task": dict.fromkeys(
                ("api", "worker", "rabbitmq", "postgres", "load", "total"), 1.0
            ),
            "postgres": {"transactions_per_task": 2.0, "connections_opened": 0},
            "peak_rss_mib": {"api": 50.0, "worker": 40.0},
        }

    runs = [run("baseline", 400), run("baseline", 500), run("baseline", 900), run("taskgate", 100)]

    lines = table(runs).splitlines()

    assert "| single | submit throughput, tasks/s | 500 | 100 | 0.20 |" in lines
    assert "| single | failed submit requests, all rounds | 0 | 1 | |" in lines


def test_a_count_is_reached_between_the_samples_around_it():
    # Given a count sampled every second: 0, 100, 300
    samples = [(0.0, 0), (1.0, 100), (2.0, 300)]

    # Then 200 was reached halfway through the second second, 300 at 2 s, and a count
    # never reached is placed at the last sample
    assert seconds_to_reach(samples, 200) == 1.5
    assert seconds_to_reach(samples, 300) == 2.0
    assert seconds_to_reach(samples, 999) == 2.0


def test_rates_by_part_show_a_drain_that_slows_down():
    # Given 1,000 tasks finished at 100/s for 5 s, then at 50/s for 10 s
    samples = [(float(s), 100 * s) for s in range(6)]
    samples += [(5.0 + s, 500 + 50 * s) for s in range(1, 11)]

    # Then the first half ran at 100/s and the second at 50/s
    assert rates_by_part(samples, 1000, 2) == [100.0, 50.0]
