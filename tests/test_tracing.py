"""Traces: one trace from the HTTP request that submitted a task to the worker's attempt at
it, even when tasks of several requests travel in one message; the task's trace context
travels signed, in the message, and messages without it still run."""

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from faststream import TestApp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.main import create_app
from publishers.topology import Band
from services.observability.correlation import correlated
from services.observability.tracing import Tracing, tracing_configured
from subscribers.worker import create_app as create_worker
from tests.support import processes, rabbit
from tests.support.api import SUBMIT, get_task, in_process_client, wait_terminal
from tests.support.dead_letters import execute_sql
from tests.support.metrics import free_port
from tests.support.settings import AUTH_HEADERS, SETTINGS, TENANT, settings_with
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

REPORTS = [rabbit.band_queue("reports", band) for band in Band]
REPORTS_ROUTE = rabbit.TOPOLOGY.work_routing_key("reports", Band.NORMAL)


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    """Where the traced API and worker send their spans: kept in memory."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


@pytest.fixture(scope="module")
async def traced_api(migrated_database, clean_broker, provider) -> AsyncIterator[FastAPI]:
    app = create_app(SETTINGS, tracer_provider=provider)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def traced_client(traced_api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(traced_api, AUTH_HEADERS) as http:
        yield http


@pytest.fixture(scope="module")
async def traced_worker(traced_api: FastAPI, provider: TracerProvider) -> AsyncIterator[None]:
    """The worker's subscribers for the reports queue, running in this process against the
    real RabbitMQ and PostgreSQL."""
    await rabbit.purge_queues(*REPORTS)
    app = create_worker(settings_with(taskgate_worker_queues="reports"), tracer_provider=provider)
    async with TestApp(app):
        yield
    await rabbit.purge_queues(*REPORTS)


def attempt_of(exporter: InMemorySpanExporter, task_id: str) -> ReadableSpan | None:
    for span in exporter.get_finished_spans():
        if (span.attributes or {}).get("taskgate.task.id") == task_id:
            return span
    return None


async def attempt_span(exporter: InMemorySpanExporter, task_id: str) -> ReadableSpan:
    async def ended() -> ReadableSpan | None:
        return attempt_of(exporter, task_id)

    return await wait_for(ended, timeout=20, what=f"the attempt span of {task_id}")


def span_by_id(exporter: InMemorySpanExporter, span_id: int) -> ReadableSpan:
    (found,) = [s for s in exporter.get_finished_spans() if s.context.span_id == span_id]
    return found


async def queued_rows(count: int) -> list[dict[str, Any]]:
    """Queued `report` tasks of tenant acme, as the submit's INSERT returns them."""
    rows = []
    for _ in range(count):
        task_id = uuid.uuid4()
        await execute_sql(
            "INSERT INTO tasks (id, tenant, name, queue, status) "
            "VALUES (:id, :tenant, 'report', 'reports', 'queued')",
            id=str(task_id),
            tenant=TENANT,
        )
        rows.append(
            {
                "id": task_id,
                "name": "report",
                "payload": {},
                "queue": "reports",
                "priority": 5,
                "tenant": TENANT,
                "replays": 0,
            }
        )
    return rows


async def test_the_attempt_is_a_child_of_the_request_that_submitted_it(
    traced_client, traced_worker, exporter
):
    # When a task is submitted over HTTP and a worker runs it
    response = await traced_client.post(SUBMIT, json={"name": "report", "payload": {}})
    assert response.status_code == 202, response.text
    task_id = response.json()["id"]
    done = await wait_terminal(traced_client, task_id)
    assert done["status"] == "succeeded"

    # Then the worker's attempt is in the request's trace, a child of its server span
    attempt = await attempt_span(exporter, task_id)
    assert attempt.parent is not None
    server = span_by_id(exporter, attempt.parent.span_id)
    assert server.kind is SpanKind.SERVER and "POST" in server.name
    assert attempt.context.trace_id == server.context.trace_id
    assert attempt.name == "run report"
    assert (attempt.attributes or {})["taskgate.task.outcome"] == "succeeded"
    # And it links to the span of the message that brought it
    (link,) = attempt.links
    message = span_by_id(exporter, link.context.span_id)
    assert message.kind is SpanKind.CONSUMER and message.name.endswith("process")


async def test_tasks_of_several_requests_in_one_message_join_their_own_traces(
    traced_api, traced_worker, exporter, provider
):
    # Given three queued tasks, each accepted by a request of its own
    rows = await queued_rows(3)
    tracer = provider.get_tracer("tests")
    outbox = traced_api.state.runtime.outbox
    requests: dict[str, Any] = {}

    async def accepted(row: dict[str, Any]) -> None:
        with (
            tracer.start_as_current_span(f"request {row['id']}", kind=SpanKind.SERVER) as span,
            correlated(request=str(row["id"])),
        ):
            requests[str(row["id"])] = span.get_span_context()
            await outbox.send([row], shared=True, mark_at_once=True)

    # When they are published at once (concurrent requests share their messages)
    await asyncio.gather(*(accepted(row) for row in rows))

    # Then each attempt is a child of its own request, in its own trace
    attempts = [await attempt_span(exporter, str(row["id"])) for row in rows]
    for attempt in attempts:
        request = requests[attempt.attributes["taskgate.task.id"]]
        assert attempt.parent is not None
        assert (attempt.context.trace_id, attempt.parent.span_id) == (
            request.trace_id,
            request.span_id,
        )
    assert len({attempt.context.trace_id for attempt in attempts}) == 3
    # And all three came in one message: they link to the same message span
    assert len({attempt.links[0].context.span_id for attempt in attempts}) == 1


def signed_body(task_id: uuid.UUID, **extra: Any) -> bytes:
    return json.dumps(
        {"id": str(task_id), "name": "report", "payload": {}, "queue": "reports", **extra}
    ).encode()


async def test_a_message_without_trace_context_still_runs_under_the_message_span(
    client, traced_worker, exporter
):
    # Given a queued task, and a signed message for it as Taskgate wrote them before the
    # message carried any origin
    (row,) = await queued_rows(1)
    task_id = str(row["id"])

    # When the message is delivered
    await rabbit.publish_raw(
        rabbit.TOPOLOGY.work_exchange.name,
        REPORTS_ROUTE,
        signed_body(row["id"]),
        "application/json",
    )

    # Then the task runs, its attempt a child of the message's span, linked to nothing
    assert (await wait_terminal(client, task_id))["status"] == "succeeded"
    attempt = await attempt_span(exporter, task_id)
    assert attempt.parent is not None and not attempt.links
    message = span_by_id(exporter, attempt.parent.span_id)
    assert message.kind is SpanKind.CONSUMER


async def test_the_signature_covers_the_trace_context(client, operator_client, traced_worker):
    # Given a queued task, and a message for it whose origin was changed after signing
    (row,) = await queued_rows(1)
    task_id = str(row["id"])
    origin = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "request_id": "r1"}
    signed = rabbit.SIGNER.signed_headers(signed_body(row["id"], origin=origin), {})
    altered = signed_body(row["id"], origin={**origin, "request_id": "forged"})

    # When it is delivered
    await rabbit.publish_raw(
        rabbit.TOPOLOGY.work_exchange.name,
        REPORTS_ROUTE,
        altered,
        "application/json",
        signed,
        signed=False,
    )

    # Then it is recorded as an unverified dead letter and the task is left alone
    async def recorded() -> bool:
        response = await operator_client.get("/api/v1/dead-letter/", params={"error": "unverified"})
        return any(task_id in item["payload"].get("raw", "") for item in response.json()["items"])

    await wait_for(recorded, timeout=20, what="the unverified record")
    task = await get_task(client, task_id)
    assert (task["status"], task["attempts"]) == ("queued", 0)
    await execute_sql("DELETE FROM tasks WHERE id = :id", id=task_id)


def test_tracing_is_off_unless_an_otlp_endpoint_is_set():
    assert not tracing_configured({})
    assert tracing_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not tracing_configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}
    )


def test_with_tracing_off_no_span_is_made(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    tracing = Tracing(service_name="taskgate-test")
    assert not tracing.enabled and tracing.tracer() is None


class Collector:
    """An OTLP/HTTP trace receiver in a thread: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []
        received = self.spans

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the handler's protocol)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    service = next(
                        a.value.string_value
                        for a in resource.resource.attributes
                        if a.key == "service.name"
                    )
                    for scope in resource.scope_spans:
                        received.extend((service, span) for span in scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


async def test_processes_export_one_trace_over_otlp_when_the_variables_say(
    ordering_queue, collector
):
    # Given the API and a worker as processes (of a queue of their own), told by the OTEL_*
    # variables where to send their spans
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "TASKGATE_WORKER_QUEUES": ordering_queue,
    }
    port = free_port()
    api = processes.api(port=port, env=env).start()
    worker = processes.worker(env=env).start()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=AUTH_HEADERS, timeout=5
        ) as http:

            async def ready() -> bool:
                assert api.alive(), api.log()[-3000:]
                assert worker.alive(), worker.log()[-3000:]
                try:
                    answered = (await http.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False
                consumed = rabbit.band_queue(ordering_queue)
                return answered and await rabbit.consumer_count(consumed) > 0

            await wait_for(ready, timeout=30, what="the API and the worker")

            # When a task is submitted and run
            response = await http.post(SUBMIT, json={"name": "ordered", "payload": {}})
            assert response.status_code == 202, response.text
            task_id = response.json()["id"]
            assert (await wait_terminal(http, task_id))["status"] == "succeeded"

        # Then the worker's attempt span reached the collector as a child of the API's
        # server span, in its trace, each under its service's name (the attempt of this
        # test's task: a message an earlier test left in the queue has an attempt span too)
        async def joined() -> tuple[Any, Any] | None:
            by_id = {span.span_id: (service, span) for service, span in collector.spans}
            for service, span in collector.spans:
                ours = _attribute(span, "taskgate.task.id") == task_id
                if span.name == "run ordered" and ours and span.parent_span_id in by_id:
                    return by_id[span.parent_span_id], (service, span)
            return None

        (api_service, server), (worker_service, attempt) = await wait_for(
            joined, timeout=20, what="the attempt's span and its parent"
        )
    finally:
        worker.stop()
        api.stop()
    assert server.name == "POST /api/v1/queue/" and server.trace_id == attempt.trace_id
    assert (api_service, worker_service) == ("taskgate-api", "taskgate-worker")


def _attribute(span: Any, key: str) -> str | None:
    """A string attribute of an exported span, if it has it."""
    return next((a.value.string_value for a in span.attributes if a.key == key), None)
