"""Structured logs: JSON lines where no terminal reads them, each carrying the request's
correlation id (the client's X-Request-ID if sane, echoed in the answer) and, where known,
the task and its tenant, from the HTTP request to the worker's lines about that task; and no
payload in any line."""

import asyncio
import io
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.coalescing import Coalescer
from services.observability import correlation
from services.observability.logs import (
    FRAMEWORK_LOGGERS,
    CorrelationFilter,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    wants_json,
)
from tests.support import processes
from tests.support.api import SUBMIT, marker, wait_status, wait_terminal
from tests.support.metrics import free_port
from tests.support.settings import AUTH_HEADERS, TENANT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

GENERATED = re.compile(r"^[0-9a-f]{32}$")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(message: str, *args: Any, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("taskgate.test", logging.INFO, __file__, 1, message, args, exc_info)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a log, each of which must be a JSON object."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


@pytest.fixture
def logging_state() -> Iterator[None]:
    """Logging as it was, back after the test (configure_logging changes the process's)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    frameworks = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
        for name in FRAMEWORK_LOGGERS
    }
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, propagate) in frameworks.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def test_json_lines_carry_the_correlation_of_their_context(logging_state):
    # Given the process's logging to a stream no terminal reads
    stream = io.StringIO()
    configure_logging(log_format="auto", level="INFO", stream=stream)
    log = logging.getLogger("taskgate.test")

    # When one line is logged within a request's and a task's context, one outside any
    with correlation.correlated(request="req-1", task="task-1", tenant_name="acme"):
        log.info("inside %d", 1)
    log.warning("outside")

    # Then each is a JSON object; the first names the request, the task and the tenant
    inside, outside = json_lines(stream.getvalue())
    assert inside["message"] == "inside 1"
    assert (inside["request_id"], inside["task_id"], inside["tenant"]) == (
        "req-1",
        "task-1",
        "acme",
    )
    assert inside["level"] == "INFO" and inside["logger"] == "taskgate.test"
    assert outside["message"] == "outside"
    assert not {"request_id", "task_id", "tenant"} & set(outside)


def test_a_terminal_gets_text_unless_json_is_asked_for():
    assert not wants_json("auto", Terminal())
    assert wants_json("auto", io.StringIO())
    assert wants_json("json", Terminal())
    assert not wants_json("text", io.StringIO())


def test_text_lines_name_the_correlation_and_json_keeps_the_traceback():
    with correlation.correlated(request="req-2", task=None, tenant_name=None):
        line = record("hello %s", "there")
        CorrelationFilter().filter(line)
    assert "[request_id=req-2] hello there" in TextFormatter().format(line)
    failed = json.loads(JsonFormatter().format(record("failed", exc=True)))
    assert "ValueError: boom" in failed["exception"]


def test_configuring_twice_keeps_one_handler_and_frameworks_go_through_it(logging_state):
    # Given a framework's own handler (as uvicorn installs)
    logging.getLogger("uvicorn.access").addHandler(logging.StreamHandler(io.StringIO()))
    stream = io.StringIO()

    # When logging is configured twice
    configure_logging(log_format="json", level="INFO", stream=io.StringIO())
    configure_logging(log_format="json", level="INFO", stream=stream)
    logging.getLogger("uvicorn.access").info("GET / 200")

    # Then the framework's line went once, as JSON, through the last handler
    assert [line["message"] for line in json_lines(stream.getvalue())] == ["GET / 200"]
    assert not logging.getLogger("uvicorn.access").handlers


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("client-id-42", True), ("a" * 129, False), ("has space", False), ("", False)],
)
async def test_the_request_id_is_the_clients_if_sane_and_is_echoed(client, sent, kept):
    # When a request is sent with an X-Request-ID
    response = await client.get("/health", headers={"X-Request-ID": sent})

    # Then the answer carries it if it is sane, else one made up
    echoed = response.headers["x-request-id"]
    assert echoed == sent if kept else GENERATED.match(echoed), echoed


async def test_each_request_without_an_id_gets_its_own(client):
    first = (await client.get("/health")).headers["x-request-id"]
    second = (await client.get("/health")).headers["x-request-id"]
    assert GENERATED.match(first) and GENERATED.match(second) and first != second


async def test_a_shared_flush_does_not_carry_the_correlation_of_the_request_that_started_it():
    # Given a group commit whose flush notes the request id it runs under
    seen: list[str | None] = []

    async def flush(requests: list[int]) -> list[int]:
        seen.append(correlation.request_id.get())
        return requests

    coalescer: Coalescer[int, int] = Coalescer(flush)

    # When a request submits to it
    with correlation.correlated(request="req-flush"):
        assert await coalescer.submit(1) == 1

    # Then the flush ran with no request's id
    assert seen == [None]


def api_process(port: int) -> processes.Process:
    """The API under uvicorn with its access log on, as deployments run it."""
    args = [
        str(processes.BIN / "uvicorn"),
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return processes.Process("api", args, {}).start()


async def test_the_apis_lines_are_json_with_the_request_id_and_tenant_and_no_payload(
    migrated_database,
):
    # Given the API as a process whose stderr is a file
    port = free_port()
    api = api_process(port)
    secret = marker()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=AUTH_HEADERS, timeout=5
        ) as http:

            async def up() -> bool:
                assert api.alive(), api.log()[-3000:]
                try:
                    return (await http.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(up, timeout=30, what="the API to answer")

            # When a task is submitted with a request id and a payload no log may show
            response = await http.post(
                SUBMIT,
                json={"name": "echo", "payload": {"secret": secret}, "delay_seconds": 3600},
                headers={"X-Request-ID": "req-api-log-1"},
            )
            assert response.status_code == 202, response.text
            assert response.headers["x-request-id"] == "req-api-log-1"

            # Then its access line is JSON and names the request and the tenant
            async def access_line() -> dict[str, Any] | None:
                for line in json_lines(api.log()):
                    if line.get("request_id") == "req-api-log-1" and "POST" in line["message"]:
                        return line
                return None

            line = await wait_for(access_line, timeout=10, what="the request's access line")
    finally:
        api.stop()
    assert line["logger"] == "uvicorn.access" and line["tenant"] == TENANT
    assert secret not in api.log()


async def test_the_workers_lines_about_a_task_carry_its_request_id_and_no_payload(
    client, start_queue_worker
):
    # Given a worker logging its lines about each task (LOG_LEVEL=DEBUG)
    worker = await start_queue_worker("reports", LOG_LEVEL="DEBUG")
    secrets = (marker(), marker())

    # When a task succeeds and one dies, each submitted with a request id of its own
    sent = {
        "req-worker-ok": {"name": "echo", "payload": {"secret": secrets[0]}, "queue": "reports"},
        "req-worker-dead": {
            "name": "fail",
            "payload": {"message": secrets[1]},
            "queue": "reports",
            "max_attempts": 1,
        },
    }
    ids = {}
    for request_id, body in sent.items():
        response = await client.post(SUBMIT, json=body, headers={"X-Request-ID": request_id})
        assert response.status_code == 202, response.text
        ids[request_id] = response.json()["id"]
    await wait_status(client, ids["req-worker-ok"], "succeeded")
    await wait_terminal(client, ids["req-worker-dead"])

    # Then the worker wrote, as JSON, a line about each, with the task's id, tenant and
    # request id
    async def lines_about_both() -> dict[str, dict[str, Any]] | None:
        found = {
            line["request_id"]: line
            for line in json_lines(worker.log())
            if line.get("request_id") in ids and line["message"].startswith("task ")
        }
        return found if len(found) == 2 else None

    found = await wait_for(lines_about_both, timeout=10, what="the worker's lines")
    for request_id, line in found.items():
        assert line["task_id"] == ids[request_id]
        assert line["tenant"] == TENANT
    assert found["req-worker-ok"]["message"].startswith("task succeeded: echo")
    assert found["req-worker-dead"]["level"] == "WARNING"
    assert "TaskFailedError" in found["req-worker-dead"]["message"]
    # And no line holds either payload, not even at DEBUG
    log = worker.log()
    assert not any(secret in log for secret in secrets)


async def test_lines_logged_by_concurrent_tasks_stay_with_their_own_task():
    # Given two tasks logging at once, each in its own correlation
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(CorrelationFilter())
    log = logging.getLogger(f"taskgate.test.{uuid.uuid4().hex}")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)

    async def task(name: str) -> None:
        with correlation.correlated(task=name):
            for _ in range(3):
                log.info(name)
                await asyncio.sleep(0)

    # When they interleave
    await asyncio.gather(task("a"), task("b"))

    # Then every line names the task that logged it
    lines = json_lines(stream.getvalue())
    assert len(lines) == 6 and all(line["task_id"] == line["message"] for line in lines)
