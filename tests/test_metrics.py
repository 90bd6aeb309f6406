"""Prometheus metrics: the API's /metrics (behind METRICS_TOKEN; requests by route
template, submits, the outbox backlog and queue depths read at scrape time), and a worker
group's endpoint, which sums every process of `--workers N`."""

import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from app.main import create_app
from app.runtime import ApiRuntime
from publishers.topology import Band
from services.observability.state_gauges import StateGauges
from tests.support import processes, rabbit
from tests.support.api import (
    RESULTS,
    SUBMIT,
    in_process_client,
    submit,
    wait_all_terminal,
    wait_status,
)
from tests.support.dead_letters import execute_sql
from tests.support.metrics import Scrape, dashboard_metric_names, free_port, scrape
from tests.support.settings import ADMIN_KEY, TENANT, settings_with
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

TOKEN = "metrics-token-for-the-tests-0123"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}
REPORTS = [rabbit.band_queue("reports", band) for band in Band]


@pytest.fixture(scope="module")
async def metered(migrated_database, clean_broker) -> AsyncIterator[FastAPI]:
    """An API whose /metrics answers the bearer TOKEN."""
    app = create_app(settings_with(metrics_token=TOKEN))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def metered_client(metered: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of it whose API key travels in X-API-Key (Authorization is the scraper's)."""
    async with in_process_client(metered, {"X-API-Key": ADMIN_KEY}) as http:
        yield http


def gauges_of(runtime: ApiRuntime, *, min_interval: float) -> StateGauges:
    return StateGauges(
        database=runtime.database,
        publishers=runtime.publishers,
        queues=runtime.queues,
        min_interval=min_interval,
    )


async def gauge_reading(gauges: StateGauges) -> Scrape:
    """What the gauges show after a refresh, as a scraper reads it."""
    from prometheus_client import CollectorRegistry, generate_latest

    await gauges.refresh()
    registry = CollectorRegistry()
    registry.register(gauges)
    return Scrape(generate_latest(registry).decode())


async def insert_unpublished(count: int) -> list[str]:
    """Queued tasks of the `ordering` queue whose publish was never confirmed."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for task_id in ids:
        await execute_sql(
            "INSERT INTO tasks (id, tenant, name, queue, status) "
            "VALUES (:id, :tenant, 'ordered', 'ordering', 'queued')",
            id=task_id,
            tenant=TENANT,
        )
    return ids


async def test_metrics_answer_only_the_metrics_token(metered_client):
    # Given an API with a METRICS_TOKEN
    # When /metrics is asked without it, with another, and with it
    missing = await metered_client.get("/metrics")
    wrong = await metered_client.get("/metrics", headers={"Authorization": "Bearer nope"})
    right = await metered_client.get("/metrics", headers=SCRAPER)

    # Then only the token gets the metrics
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "taskgate_http_requests_total" in right.text


async def test_metrics_are_refused_with_auth_on_and_no_token(client):
    # Given the API as the tests run it: auth on, no METRICS_TOKEN
    response = await client.get("/metrics")

    # Then not even an admin's key reads them, and the answer says what to set
    assert response.status_code == 401
    assert "METRICS_TOKEN" in response.json()["detail"]


async def test_requests_are_counted_by_route_template_not_by_path(metered_client):
    # Given the counts before
    route = {"method": "GET", "route": "/api/v1/result/{result_uuid}"}
    before = await scrape(metered_client, **SCRAPER)

    # When three tasks that do not exist are asked for
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for task_id in ids:
        assert (await metered_client.get(f"{RESULTS}{task_id}")).status_code == 404

    # Then the route template counts three 4xx answers, timed, and no id is a label
    after = await scrape(metered_client, **SCRAPER)
    counted = after.value("taskgate_http_requests_total", status="4xx", **route)
    assert counted - before.value("taskgate_http_requests_total", status="4xx", **route) == 3
    timed = after.value("taskgate_http_request_duration_seconds_count", **route)
    assert timed - before.value("taskgate_http_request_duration_seconds_count", **route) == 3
    assert not any(task_id in after.text for task_id in ids)


async def test_accepted_tasks_are_counted_per_handler_and_queue(metered_client, ordering_queue):
    # Given the count of `ordered` tasks of the ordering queue so far
    kind = {"handler": "ordered", "queue": "ordering"}
    before = (await scrape(metered_client, **SCRAPER)).value(
        "taskgate_tasks_submitted_total", **kind
    )

    # When three are submitted alone, two in a batch, and one of them again by its key
    for _ in range(3):
        await submit(metered_client, "ordered")
    batch = {"tasks": [{"name": "ordered"}, {"name": "ordered"}]}
    assert (await metered_client.post(f"{SUBMIT}batch", json=batch)).status_code == 202
    keyed = {"name": "ordered", "idempotency_key": f"metrics-{uuid.uuid4()}"}
    assert (await metered_client.post(SUBMIT, json=keyed)).status_code == 202
    assert (await metered_client.post(SUBMIT, json=keyed)).status_code == 200

    # Then six were accepted: the repeat is not counted
    after = (await scrape(metered_client, **SCRAPER)).value(
        "taskgate_tasks_submitted_total", **kind
    )
    assert after - before == 6


async def test_queue_depths_are_read_from_rabbitmq(metered, metered_client, ordering_queue):
    # Given three tasks of the ordering queue, which no worker consumes, each its own message
    for _ in range(3):
        await submit(metered_client, "ordered")
    gauges = gauges_of(metered.state.runtime, min_interval=0)

    # Then its normal band holds three ready messages and no consumer, and nothing else
    async def three_ready() -> Scrape | None:
        reading = await gauge_reading(gauges)
        band = {"queue": "ordering", "band": "normal"}
        return reading if reading.value("taskgate_queue_messages_ready", **band) == 3 else None

    reading = await wait_for(three_ready, timeout=10, what="three ready messages")
    assert reading.value("taskgate_queue_consumers", queue="ordering") == 0
    assert reading.value("taskgate_queue_messages_ready", queue="ordering", band="high") == 0
    assert reading.value("taskgate_metrics_source_up", source="broker") == 1


async def test_the_outbox_backlog_is_the_unpublished_queued_tasks(metered, ordering_queue):
    # Given the backlog now
    gauges = gauges_of(metered.state.runtime, min_interval=0)
    before = (await gauge_reading(gauges)).value("taskgate_outbox_unpublished_tasks")

    # When four queued tasks are recorded whose publish was never confirmed
    ids = await insert_unpublished(4)

    # Then the backlog counts them, and its oldest has waited a moment
    reading = await gauge_reading(gauges)
    assert reading.value("taskgate_outbox_unpublished_tasks") == before + 4
    assert reading.value("taskgate_outbox_oldest_unpublished_seconds") >= 0
    assert reading.value("taskgate_metrics_source_up", source="database") == 1

    # And once they are marked published they leave it
    await execute_sql(
        "UPDATE tasks SET published_at = now() WHERE id = ANY(CAST(:ids AS uuid[]))", ids=ids
    )
    assert (await gauge_reading(gauges)).value("taskgate_outbox_unpublished_tasks") == before


async def test_the_sources_are_read_at_most_once_per_interval(metered, ordering_queue):
    # Given gauges read once, to be read again only after an hour
    gauges = gauges_of(metered.state.runtime, min_interval=3600)
    first = (await gauge_reading(gauges)).value("taskgate_outbox_unpublished_tasks")

    # When the backlog grows and they are scraped again
    await insert_unpublished(2)
    again = (await gauge_reading(gauges)).value("taskgate_outbox_unpublished_tasks")

    # Then they show the first reading: PostgreSQL was not asked again
    assert again == first


async def test_the_metrics_endpoint_serves_the_gauges_read_at_scrape_time(metered_client):
    reading = await scrape(metered_client, **SCRAPER)
    assert reading.value("taskgate_metrics_source_up", source="database") == 1
    assert {
        "taskgate_outbox_unpublished_tasks",
        "taskgate_queue_messages_ready",
    } <= reading.families


@pytest.fixture
async def reports_queue() -> AsyncIterator[str]:
    """The reports queue, empty of messages and unfinished tasks before and after."""

    async def empty() -> None:
        await rabbit.purge_queues(*REPORTS)
        await execute_sql(
            "DELETE FROM tasks WHERE queue = 'reports' "
            "AND status NOT IN ('succeeded', 'dead', 'cancelled')"
        )

    await empty()
    yield "reports"
    await empty()


def group_worker(port: int, *, workers: int, **env: str) -> processes.Process:
    return processes.worker(
        workers=workers,
        env={
            "TASKGATE_WORKER_QUEUES": "reports",
            "WORKER_METRICS_PORT": str(port),
            "WORKER_METRICS_HOST": "127.0.0.1",
            **env,
        },
    ).start()


async def consuming(process: processes.Process, consumers: int) -> None:
    async def ready() -> bool:
        assert process.alive(), process.log()[-3000:]
        return await rabbit.consumer_count(REPORTS[1]) == consumers

    await wait_for(ready, timeout=30, what=f"{consumers} consumers of the reports queue")


async def test_a_worker_counts_each_tasks_start_and_end(client, metered_client, reports_queue):
    # Given one worker process serving its metrics
    port = free_port()
    worker = group_worker(port, workers=1)
    try:
        await consuming(worker, 1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as metrics:
            # When three tasks succeed, one fails twice (retried, then dead), and one is
            # cancelled while it runs
            sent = [
                *[{"name": "echo", "payload": {"n": n}, "queue": "reports"} for n in range(3)],
                {"name": "fail_unless_ok", "queue": "reports"},
            ]
            ids = [(await client.post(SUBMIT, json=body)).json()["id"] for body in sent]
            napping = (
                await client.post(
                    SUBMIT, json={"name": "nap", "payload": {"seconds": 30}, "queue": "reports"}
                )
            ).json()["id"]
            await wait_status(client, napping, "running")
            assert (await client.post(f"{SUBMIT}{napping}/cancel")).status_code == 202
            await wait_all_terminal(client, [*ids, napping], timeout=20)

            # Then the worker's endpoint counts each task's start and how it ended
            def counted(reading: Scrape) -> tuple[float, ...]:
                def of(name: str, handler: str) -> float:
                    return reading.value(name, handler=handler, queue="reports")

                return (
                    of("taskgate_worker_tasks_started_total", "echo"),
                    of("taskgate_worker_tasks_succeeded_total", "echo"),
                    of("taskgate_worker_tasks_started_total", "fail_unless_ok"),
                    of("taskgate_worker_tasks_retried_total", "fail_unless_ok"),
                    of("taskgate_worker_tasks_dead_total", "fail_unless_ok"),
                    of("taskgate_worker_tasks_cancelled_total", "nap"),
                )

            async def all_counted() -> Scrape | None:
                reading = await scrape(metrics)
                return reading if counted(reading) == (3, 3, 2, 1, 1, 1) else None

            reading = await wait_for(all_counted, timeout=10, what="every outcome counted")
    finally:
        worker.stop()

    # And times their waits and their runs, and runs none now
    for handler, runs in (("echo", 3), ("fail_unless_ok", 2), ("nap", 1)):
        assert reading.value("taskgate_worker_task_run_seconds_count", handler=handler) == runs
        waits = reading.value("taskgate_worker_task_queue_wait_seconds_count", handler=handler)
        assert waits == runs, handler
    assert reading.value("taskgate_worker_tasks_running", queue="reports") == 0
    # And FastStream's own middleware counts the messages that carried them
    assert reading.value("faststream_received_messages_total") >= 5
    # And every metric Grafana's dashboard queries is exported, by the worker or the API
    api = await scrape(metered_client, **SCRAPER)
    exported = {sample.name for sample in (*reading.samples, *api.samples)}
    assert dashboard_metric_names() <= exported, dashboard_metric_names() - exported


def process_exists(pid: int) -> bool:
    """Whether the process is there, if only as a zombie its parent has not reaped."""
    return os.path.exists(f"/proc/{pid}")


def stale_counter(directory: Path) -> None:
    """What a worker group that ran before left in the directory: 1000 successes."""
    directory.mkdir(parents=True, exist_ok=True)
    stale = MmapedDict(str(directory / "counter_999999.db"))
    key = mmap_key(
        "taskgate_worker_tasks_succeeded",
        "taskgate_worker_tasks_succeeded_total",
        ["handler", "queue"],
        ["report", "reports"],
        "stale",
    )
    stale.write_value(key, 1000.0, 0.0)
    stale.close()


async def test_a_group_of_two_workers_serves_the_sum_of_both(client, reports_queue, tmp_path):
    # Given a group of two worker processes, one task at a time each, whose metrics
    # directory holds what an earlier run left
    directory = tmp_path / "metrics"
    stale_counter(directory)
    port = free_port()
    group = group_worker(
        port,
        workers=2,
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        WORKER_CONCURRENCY="1",
        WORKER_PREFETCH="1",
    )
    kind = {"handler": "report", "queue": "reports"}
    try:
        await consuming(group, 2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as metrics:
            # When ten tasks are submitted one by one (a message each)
            body = {"name": "report", "payload": {"seconds": 0.2}}
            ids = [(await client.post(SUBMIT, json=body)).json()["id"] for _ in range(10)]
            finished = await wait_all_terminal(client, ids, timeout=30)

            # Then both processes ran some, and the one endpoint counts all ten, not what
            # the earlier run left
            assert len({task["result"]["pid"] for task in finished.values()}) == 2

            async def ten() -> Scrape | None:
                reading = await scrape(metrics)
                done = reading.value("taskgate_worker_tasks_succeeded_total", **kind)
                return reading if done == 10 else None

            reading = await wait_for(ten, timeout=10, what="ten successes counted")
            families = [
                line.split()[2] for line in reading.text.splitlines() if line.startswith("# TYPE")
            ]
            assert len(families) == len(set(families)), "a family twice: not valid text format"
            assert reading.value("taskgate_worker_tasks_started_total", **kind) == 10
            assert reading.value("taskgate_worker_task_run_seconds_count", handler="report") == 10
            assert not list(directory.glob("*_999999.db"))
            pids = {
                int(labels["pid"])
                for labels in reading.labels("faststream_received_messages_in_process")
            }
            assert len(pids) == 2, pids

            # When one of them is killed (the supervisor starts another)
            dead = pids.pop()
            os.kill(dead, signal.SIGKILL)

            async def reaped() -> bool:
                return not process_exists(dead)

            await wait_for(reaped, timeout=10, what="the supervisor to reap the killed process")
            await consuming(group, 2)

            # Then its gauges are gone, its counts stay, and new tasks add to them
            two = [(await client.post(SUBMIT, json=body)).json()["id"] for _ in range(2)]
            await wait_all_terminal(client, two, timeout=30)

            async def twelve() -> Scrape | None:
                reading = await scrape(metrics)
                done = reading.value("taskgate_worker_tasks_succeeded_total", **kind)
                return reading if done == 12 else None

            reading = await wait_for(twelve, timeout=10, what="twelve successes counted")
            gauge_pids = {
                int(labels["pid"])
                for labels in reading.labels("faststream_received_messages_in_process")
            }
            assert dead not in gauge_pids, (dead, gauge_pids)
            assert reading.value("taskgate_worker_tasks_running", queue="reports") == 0
    finally:
        group.stop()
        assert "Traceback" not in group.log(), group.log()[-3000:]


def test_worker_group_metrics_are_off_by_default():
    assert settings_with().worker_metrics_port == 0
    assert settings_with(worker_metrics_port="").worker_metrics_port == 0
