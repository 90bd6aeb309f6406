"""RabbitMQ stopped: the API keeps accepting (the outbox holds the tasks), and once it is
back the API and the workers reconnect by themselves and every task runs."""

import asyncio
import time

import pytest

from tests.chaos.stack import Load, Stack, verify
from tests.support import services

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.integration,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not services.can_control_services(), reason="rabbitmqctl is not on this machine"
    ),
]

TASK = {"name": "count", "payload": {"seconds": 0.01}}


async def test_broker_stopped_while_submitting_loses_nothing(stack: Stack, report):
    # Given tasks being submitted steadily
    started = time.monotonic()
    load = Load(stack, concurrency=8)
    submitting = asyncio.create_task(load.submit(600, TASK))
    await _until(lambda: len(load.accepted) >= 150)

    # When RabbitMQ stops for a few seconds in the middle, then starts again
    await services.stop_rabbitmq()
    try:
        accepted_before = len(load.accepted)
        await _until(lambda: len(load.accepted) >= accepted_before + 100)
    finally:
        await services.start_rabbitmq()
    await submitting

    # Then every submit was accepted, and every accepted task ran once
    assert load.statuses.get(202) == 600, load.statuses
    result = await verify(
        "RabbitMQ stopped mid-stream", load.accepted, started=started, timeout=120
    )
    report.append(result)


async def test_tasks_submitted_while_broker_is_down_all_run_when_it_returns(stack: Stack, report):
    # Given RabbitMQ is stopped
    started = time.monotonic()
    await services.stop_rabbitmq()
    try:
        # When 200 tasks are submitted
        load = Load(stack, concurrency=16)
        await load.submit(200, TASK)
        # Then every one was accepted at once
        assert load.statuses == {202: 200}
    finally:
        await services.start_rabbitmq()

    # And all of them succeed once RabbitMQ is back
    result = await verify(
        "200 submitted while RabbitMQ down", load.accepted, started=started, timeout=120
    )
    report.append(result)


async def _until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the load made no progress"
        await asyncio.sleep(0.05)
