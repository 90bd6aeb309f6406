"""The metrics endpoint of a worker group: one port (WORKER_METRICS_PORT) for a
`faststream run` and however many processes it runs (`--workers N`).

`faststream run --workers N` calls `create_app` in its supervisor, then spawns N fresh
interpreters that call it again and consume. The first process of the group (the one with
no multiprocessing parent: the supervisor, or the worker itself when it runs alone) serves
the endpoint; it never stops while the group runs. Before it spawns anything it gives the
group a directory for prometheus-client's multiprocess mode — PROMETHEUS_MULTIPROC_DIR if
set (emptied: what is there is left from an earlier run), else a new temporary one (removed
at exit) — and puts it in the environment the children inherit, so each child writes its
values to files there from its first import of prometheus-client. A scrape sums the files
of every process, the dead ones included, so counts survive a child that died; the gauges
of a dead child are dropped (`mark_process_dead`, and its per-process gauges), as the
supervisor starts a new one.
"""

import atexit
import glob
import logging
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server, values
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from config.settings import Settings

logger = logging.getLogger(__name__)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def prepare_directory() -> Path:
    """The group's directory for multiprocess metrics, empty, in this process's environment
    (so in every child's)."""
    given = os.environ.get(MULTIPROC_DIR, "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="taskgate-metrics-"))
    os.environ[MULTIPROC_DIR] = str(path)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_processes(path: Path) -> list[int]:
    """Drop the gauges of processes that have died (their counters and histograms stay in
    the sums); the pids dropped."""
    pids = set()
    for name in glob.glob(os.path.join(path, "*.db")):
        tail = Path(name).stem.rsplit("_", 1)[-1]
        if tail.isdigit():
            pids.add(int(tail))
    dead = sorted(pid for pid in pids if pid != os.getpid() and not _alive(pid))
    for pid in dead:
        mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
        # Gauges of the default mode keep a series per process: a dead one's is stale.
        (path / f"gauge_all_{pid}.db").unlink(missing_ok=True)
    return dead


class GroupCollector:
    """The group's metrics: every process's values from the directory, and this process's
    own metrics that are not there (its values when it runs alone and keeps them in memory,
    its process and Python metrics)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[Metric]:
        forget_dead_processes(self.path)
        collector = MultiProcessCollector(None, path=str(self.path))  # type: ignore[no-untyped-call]
        shared = list(collector.collect())  # type: ignore[no-untyped-call]
        names = {metric.name for metric in shared}
        yield from shared
        for metric in REGISTRY.collect():
            if metric.samples and metric.name not in names:
                yield metric


class WorkerMetricsEndpoint:
    """Serves the group's metrics on host:port, from the group's first process."""

    def __init__(self, *, host: str, port: int) -> None:
        self.host = host
        self.port = port

    @classmethod
    def from_settings(cls, settings: Settings) -> "WorkerMetricsEndpoint | None":
        """None when WORKER_METRICS_PORT is 0 (metrics not served)."""
        if not settings.worker_metrics_port:
            return None
        return cls(host=settings.worker_metrics_host, port=settings.worker_metrics_port)

    def start(self) -> None:
        """In the group's first process: prepare the directory and serve (a thread of its
        own). In a child of `--workers`: nothing (its values go to the directory)."""
        if multiprocessing.parent_process() is not None:
            if not getattr(values.ValueClass, "_multiprocess", False):
                logger.warning("worker metrics: %s was not set at import", MULTIPROC_DIR)
            return
        path = prepare_directory()
        registry = CollectorRegistry()
        registry.register(GroupCollector(path))
        try:
            start_http_server(self.port, addr=self.host, registry=registry)
        except OSError as error:
            logger.warning("worker metrics not served on %s:%d: %s", self.host, self.port, error)
            return
        logger.info("worker metrics on http://%s:%d/metrics", self.host, self.port)
