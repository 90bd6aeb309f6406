"""The two systems under test: how each is started, where its state lives, what it answers."""

import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.baseline.config import SCHEMA
from config import names
from config.settings import get_settings
from publishers.topology import Band, band_queue_name, delay_routing_key

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# One folder per benchmark run: a JSON file per measured run, the summary, the processes' logs.
RESULTS = ROOT / "benchmarks" / "results"

TASKGATE_PORT, BASELINE_PORT = 18000, 18001
# Taskgate runs with auth on, as users run it: one write key, made in its fresh database,
# and a rate limit far above what the bench sends (the limiter still leases its tokens).
BENCH_TENANT = "bench"
BENCH_KEY_PREFIX = "0123456789ab"
BENCH_KEY = f"tg_{BENCH_KEY_PREFIX}_taskgate-bench-key-not-a-secret"
BENCH_SECRET = "taskgate-bench-message-secret"
TASKGATE_DATABASE, BASELINE_DATABASE = "taskgate_bench", "taskgate_bench_baseline"
TASKGATE_PREFIX, BASELINE_PREFIX = "taskgate-bench", "taskgate-bench-baseline"
# Messages each worker process holds at once, the same for both systems.
DEFAULT_PREFETCH = 64
# Database connections each process keeps: Taskgate's default DB_POOL_SIZE (SQLAlchemy may
# open as many again as overflow, closed when returned); the baseline's fixed asyncpg pool.
DEFAULT_POOL_SIZE = 20


@dataclass(frozen=True)
class System:
    """One system under test: its processes, its database and table, its queues."""

    name: str
    port: int
    database: str
    table: str
    submit_path: str
    batch_path: str
    api_args: tuple[str, ...]
    worker_args: tuple[str, ...]
    env: dict[str, str]
    # The work queue: a consumer on it means the worker is up.
    queue: str
    # Deleted before and after each run, so each starts from an empty broker state.
    queues: tuple[str, ...]
    exchanges: tuple[str, ...]
    # SQL that makes the table; None: Taskgate's own Alembic migrations.
    schema: str | None = None
    # Sent with every request as `Authorization: Bearer` (None: the system has no auth).
    api_key: str | None = None
    # SQL that picks the run's own rows in `table` (rows preloaded to grow it are others).
    own_rows: str = "true"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _uvicorn(app: str, port: int) -> tuple[str, ...]:
    # Access logs off for both systems alike: a log line per request is not what is compared.
    return (
        str(BIN / "uvicorn"),
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    )


def _processes(count: int) -> tuple[str, ...]:
    # uvicorn and `faststream run` both fork that many processes under one parent.
    return ("--workers", str(count)) if count > 1 else ()


def taskgate(
    *,
    prefetch: int = DEFAULT_PREFETCH,
    pool_size: int = DEFAULT_POOL_SIZE,
    api_processes: int = 1,
    worker_processes: int = 1,
) -> System:
    """Taskgate as shipped (`app.main:app`, `subscribers.worker:create_app`) on bench
    names."""
    base, dead_letter_queue = f"{TASKGATE_PREFIX}.tasks", f"{TASKGATE_PREFIX}.dead-letter"
    # The no-op handler's tasks go to the `default` queue's normal band.
    bands = tuple(band_queue_name(base, names.DEFAULT_TASK_QUEUE, band) for band in Band)
    queue = band_queue_name(base, names.DEFAULT_TASK_QUEUE, Band.NORMAL)
    delay_queues = tuple(
        f"{base}{names.DELAY_QUEUE_SUFFIX}.{delay_routing_key(level)}"
        for level in range(names.MAX_DELAY_LEVEL + 1)
    )
    return System(
        name="taskgate",
        port=TASKGATE_PORT,
        database=TASKGATE_DATABASE,
        table="tasks",
        submit_path="/api/v1/queue/",
        batch_path="/api/v1/queue/batch",
        api_args=(*_uvicorn("app.main:app", TASKGATE_PORT), *_processes(api_processes)),
        # As `make worker` runs it.
        worker_args=(
            str(BIN / "faststream"),
            "run",
            "--factory",
            "subscribers.worker:create_app",
            *_processes(worker_processes),
        ),
        env={
            "DB_NAME": TASKGATE_DATABASE,
            "RMQ_QUEUE_EXCHANGE": TASKGATE_PREFIX,
            "RMQ_QUEUE_NAME": base,
            "RMQ_QUEUE_DEAD_LETTER_EXCHANGE": f"{TASKGATE_PREFIX}.dlx",
            "RMQ_QUEUE_DEAD_LETTER_NAME": dead_letter_queue,
            "TASKGATE_HANDLERS": "benchmarks.handlers",
            "WORKER_PREFETCH": str(prefetch),
            "DB_POOL_SIZE": str(pool_size),
            "AUTH_ENABLED": "true",
            "TASKGATE_SECRET": BENCH_SECRET,
            "RATE_LIMIT_PER_SECOND": "1000000",
            "RATE_LIMIT_BURST": "2000000",
        },
        api_key=BENCH_KEY,
        own_rows=f"tenant = '{BENCH_TENANT}'",
        queue=queue,
        queues=(*bands, dead_letter_queue, *delay_queues),
        exchanges=(
            TASKGATE_PREFIX,
            f"{TASKGATE_PREFIX}.dlx",
            TASKGATE_PREFIX + names.DELAY_EXCHANGE_SUFFIX,
            TASKGATE_PREFIX + names.CANCEL_EXCHANGE_SUFFIX,
        ),
    )


def baseline(*, prefetch: int = DEFAULT_PREFETCH, pool_size: int = DEFAULT_POOL_SIZE) -> System:
    """The hand-written baseline (`benchmarks.baseline`) on the same servers."""
    settings = get_settings()
    queue = f"{BASELINE_PREFIX}.tasks"
    secret = settings.db_pass.get_secret_value()
    password = f":{secret}" if secret else ""
    dsn = (
        f"postgresql://{settings.db_user}{password}@{settings.db_host}:{settings.db_port}"
        f"/{BASELINE_DATABASE}"
    )
    return System(
        name="baseline",
        port=BASELINE_PORT,
        database=BASELINE_DATABASE,
        table="bench_tasks",
        submit_path="/tasks",
        batch_path="/tasks/batch",
        api_args=_uvicorn("benchmarks.baseline.api:app", BASELINE_PORT),
        worker_args=(sys.executable, "-m", "benchmarks.baseline.worker"),
        env={
            "BASELINE_DSN": dsn,
            "BASELINE_AMQP_URL": settings.amqp_url,
            "BASELINE_QUEUE": queue,
            "BASELINE_PREFETCH": str(prefetch),
            "BASELINE_POOL_SIZE": str(pool_size),
        },
        queue=queue,
        queues=(queue,),
        exchanges=(),
        schema=SCHEMA,
    )
