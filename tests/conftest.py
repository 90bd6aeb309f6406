"""Shared fixtures: a freshly migrated test database, an empty broker state, the API
in-process over ASGI, and a real worker process. Every test runs with the settings of
tests/support/settings.py."""

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.main import create_app
from app.runtime import ApiRuntime
from db.create_database import connect, recreate_database
from db.models import Role
from publishers.topology import Band
from services.handlers.loader import load_handlers
from services.keys import create_key, secret_hash
from services.named_queues import known_queues
from tests.chaos.handlers import COUNTER_TABLES
from tests.support import processes, rabbit
from tests.support.api import in_process_client
from tests.support.database import new_session, shared_database
from tests.support.settings import (
    ADMIN_KEY,
    ADMIN_KEY_PREFIX,
    AUTH_HEADERS,
    OPERATOR_HEADERS,
    OPERATOR_KEY,
    OPERATOR_KEY_PREFIX,
    SETTINGS,
    TENANT,
    TEST_ENV,
)
from tests.support.waiting import wait_for

load_handlers(SETTINGS.handler_modules)
DEFAULT_WORK_QUEUE = rabbit.band_queue("default")


@pytest.fixture(scope="session")
async def migrated_database() -> AsyncIterator[None]:
    """A new, empty test database, made by the real migrations."""
    await recreate_database(SETTINGS, SETTINGS.db_name)
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=processes.ROOT,
        check=True,
        env=processes.environment(TEST_ENV),
    )
    connection = await connect(SETTINGS, SETTINGS.db_name)
    try:
        await connection.execute(COUNTER_TABLES)
        for prefix, key, role, all_tenants in (
            (ADMIN_KEY_PREFIX, ADMIN_KEY, "admin", False),
            (OPERATOR_KEY_PREFIX, OPERATOR_KEY, "admin", True),
        ):
            await connection.execute(
                "INSERT INTO api_keys (id, prefix, secret_hash, tenant, role, all_tenants, name) "
                "VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, 'tests')",
                prefix,
                secret_hash(key.split("_", 2)[2]),
                TENANT if not all_tenants else "operators",
                role,
                all_tenants,
            )
    finally:
        await connection.close()
    yield
    await shared_database().dispose()


@pytest.fixture(scope="session", autouse=True)
async def database_before_any_test(migrated_database: None) -> None:
    """The test database exists before a process's first test, whichever test that is
    (test processes share the tests out in no fixed order)."""


@pytest.fixture(scope="session")
async def clean_broker() -> AsyncIterator[None]:
    """No queues left from an earlier run: the topology is declared afresh, and removed."""
    queues = rabbit.topology_queues(known_queues(SETTINGS))
    await rabbit.delete_queues(*queues)
    yield
    await rabbit.delete_queues(*queues)


@pytest.fixture(scope="session")
async def api(migrated_database: None, clean_broker: None) -> AsyncIterator[FastAPI]:
    """The API, in this process, with its lifespan (broker connected, topology declared)."""
    app = create_app(SETTINGS)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
def api_runtime(api: FastAPI) -> ApiRuntime:
    """What the in-process API runs with (its database, waiter, publishers)."""
    runtime: ApiRuntime = api.state.runtime
    return runtime


@pytest.fixture(scope="session")
async def client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the in-process API."""
    async with in_process_client(api, AUTH_HEADERS) as http:
        yield http


@pytest.fixture(scope="session")
async def operator_client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the in-process API with an operator's key (every tenant, admin)."""
    async with in_process_client(api, OPERATOR_HEADERS) as http:
        yield http


@dataclass
class Keyed:
    """A client of the in-process API holding a key of its own."""

    http: httpx.AsyncClient
    key: str
    key_id: uuid.UUID


KeyedFactory = Callable[..., Awaitable[Keyed]]


@pytest.fixture
async def keyed(api: FastAPI) -> AsyncIterator[KeyedFactory]:
    """Make a key (tenant, role, operator or not) and a client sending it."""
    made: list[Keyed] = []

    async def make(tenant: str, role: Role = Role.WRITE, *, all_tenants: bool = False) -> Keyed:
        async with new_session() as session:
            new = await create_key(
                session=session, tenant=tenant, role=role, all_tenants=all_tenants
            )
        http = in_process_client(api, {"Authorization": f"Bearer {new.key}"})
        made.append(Keyed(http=http, key=new.key, key_id=new.record.id))
        return made[-1]

    yield make
    for client in made:
        await client.http.aclose()


@pytest.fixture(scope="session")
async def worker(client: httpx.AsyncClient) -> AsyncIterator[processes.Process]:
    """One real worker process (`faststream run`), consuming both queues."""
    process = processes.worker().start()

    async def consuming() -> bool:
        assert process.alive(), process.log()
        return (
            await rabbit.consumer_count(DEFAULT_WORK_QUEUE) > 0
            and await rabbit.consumer_count(SETTINGS.rmq_queue_dead_letter_name) > 0
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
    async with new_session() as session:
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
