"""Shared fixtures: a freshly migrated test database, an empty broker state, the API
in-process over ASGI, and a real worker process."""

import os

# Before any Taskgate module reads its settings: a database and broker names of our own,
# so a test run never touches a running Taskgate's data or queues.
os.environ.setdefault("DB_NAME", "taskgate_test")
TEST_PREFIX = os.environ.setdefault("TASKGATE_TEST_PREFIX", "taskgate-test")
os.environ.setdefault("RMQ_QUEUE_EXCHANGE", TEST_PREFIX)
os.environ.setdefault("RMQ_QUEUE_NAME", f"{TEST_PREFIX}.tasks")
os.environ.setdefault("RMQ_QUEUE_DEAD_LETTER_EXCHANGE", f"{TEST_PREFIX}.dlx")
os.environ.setdefault("RMQ_QUEUE_DEAD_LETTER_NAME", f"{TEST_PREFIX}.dead-letter")
# The handlers the tests run beside the built-ins (API and worker processes alike).
os.environ.setdefault("TASKGATE_HANDLERS", "tests.chaos.handlers")
# Workers consume the default queue unless a test starts one for another queue.
os.environ.setdefault("TASKGATE_WORKER_QUEUES", "default")

import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app.handlers.loader import load_handlers  # noqa: E402
from app.services.queues import known_queues  # noqa: E402
from app.settings import get_settings  # noqa: E402
from db.create_database import connect, recreate_database  # noqa: E402
from db.session import SessionFactory  # noqa: E402
from publishers.topology import Band  # noqa: E402
from tests.chaos.handlers import COUNTER_TABLES  # noqa: E402
from tests.support import processes, rabbit  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

settings = get_settings()
load_handlers()
DEFAULT_WORK_QUEUE = rabbit.band_queue("default")


@pytest.fixture(scope="session")
async def migrated_database() -> None:
    """A new, empty test database, made by the real migrations."""
    await recreate_database(settings.db_name)
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=processes.ROOT, check=True
    )
    connection = await connect(settings.db_name)
    try:
        await connection.execute(COUNTER_TABLES)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def clean_broker() -> AsyncIterator[None]:
    """No queues left from an earlier run: the topology is declared afresh, and removed."""
    queues = rabbit.topology_queues(known_queues())
    await rabbit.delete_queues(*queues)
    yield
    await rabbit.delete_queues(*queues)


@pytest.fixture(scope="session")
async def client(migrated_database: None, clean_broker: None) -> AsyncIterator[httpx.AsyncClient]:
    """The API, in this process, with its lifespan (broker connected, topology declared)."""
    from app.main import app

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://taskgate.test"
        ) as http,
    ):
        yield http


@pytest.fixture(scope="session")
async def worker(client: httpx.AsyncClient) -> AsyncIterator[processes.Process]:
    """One real worker process (`faststream run`), consuming both queues."""
    process = processes.worker().start()

    async def consuming() -> bool:
        assert process.alive(), process.log()
        return (
            await rabbit.consumer_count(DEFAULT_WORK_QUEUE) > 0
            and await rabbit.consumer_count(settings.rmq_queue_dead_letter_name) > 0
        )

    try:
        await wait_for(consuming, timeout=30, what="the worker to consume")
        yield process
    finally:
        process.stop()


@pytest.fixture
async def ordering_queue(client: httpx.AsyncClient) -> AsyncIterator[str]:
    """The `ordering` queue (only a worker a test starts consumes it), emptied of messages
    and tasks after the test."""
    yield "ordering"
    await rabbit.purge_queues(*(rabbit.band_queue("ordering", band) for band in Band))
    async with SessionFactory() as session:
        await session.execute(text("DELETE FROM tasks WHERE queue = 'ordering'"))
        await session.commit()


QueueWorkerFactory = Callable[..., Awaitable[processes.Process]]


@pytest.fixture
async def start_queue_worker(client: httpx.AsyncClient) -> AsyncIterator[QueueWorkerFactory]:
    """Start real worker processes for chosen named queues; stopped after the test."""
    started: list[processes.Process] = []

    async def start(queues: str, **env: str) -> processes.Process:
        process = processes.worker(env={"TASKGATE_WORKER_QUEUES": queues, **env}).start()
        started.append(process)
        first = rabbit.band_queue(queues.split(",")[0])

        async def consuming() -> bool:
            assert process.alive(), process.log()[-3000:]
            return await rabbit.consumer_count(first) > 0

        await wait_for(consuming, timeout=30, what=f"a worker to consume {queues}")
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def worker_log(worker: processes.Process) -> Iterator[processes.Process]:
    """The worker, with its log printed when the test fails."""
    yield worker
    sys.stdout.write(worker.log()[-4000:])
