"""A queue RabbitMQ already holds under other arguments (here: a delay queue of the classic
type an earlier Taskgate declared, where Taskgate now declares a quorum one) stops the API
and the workers at start with one line that names the queue and the way to migrate."""

import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from config import names
from publishers.broker import build_broker
from publishers.publishing import Publishers, TopologyConflictError
from publishers.topology import delay_routing_key
from tests.chaos.stack import free_port
from tests.support import processes
from tests.support.settings import SETTINGS, settings_with
from tests.support.waiting import wait_for


@pytest.fixture
async def classic_delay_queue() -> AsyncIterator[tuple[str, str]]:
    """A Taskgate base name whose 1 s delay queue already exists, declared classic; (base,
    that queue's name)."""
    base = f"{SETTINGS.rmq_queue_name}.conflict-{uuid.uuid4().hex[:8]}"
    queue = f"{base}{names.DELAY_QUEUE_SUFFIX}.{delay_routing_key(0)}"
    connection = await aio_pika.connect(SETTINGS.amqp_url)
    async with connection:
        channel = await connection.channel()
        # As Taskgate declared its delay queues before they were quorum queues.
        old_arguments = {"x-dead-letter-exchange": SETTINGS.rmq_queue_exchange}
        await channel.declare_queue(queue, durable=True, arguments=old_arguments)
        yield base, queue
        channel = await connection.channel()
        for level in range(names.MAX_DELAY_LEVEL + 1):
            await channel.queue_delete(
                f"{base}{names.DELAY_QUEUE_SUFFIX}.{delay_routing_key(level)}"
            )
        for band in ("high", "normal", "low"):
            await channel.queue_delete(f"{base}.default.{band}")


async def test_declaring_over_a_classic_delay_queue_names_it_and_the_way_out(
    classic_delay_queue: tuple[str, str],
) -> None:
    base, queue = classic_delay_queue
    settings = settings_with(rmq_queue_name=base)
    publishers = Publishers.from_settings(build_broker(settings), settings)
    await publishers.broker.connect()
    try:
        with pytest.raises(TopologyConflictError) as refused:
            await publishers.declare_topology(["default"])
    finally:
        await publishers.broker.stop()
    message = str(refused.value)
    assert f"queue '{queue}'" in message
    assert "x-queue-type" in message or "x-overflow" in message
    assert "delete_queue" in message and "RMQ_QUEUE_NAME" in message


@pytest.mark.parametrize("which", ["api", "worker"])
async def test_a_process_stops_at_start_with_the_line(
    classic_delay_queue: tuple[str, str], which: str
) -> None:
    base, queue = classic_delay_queue
    env = {"RMQ_QUEUE_NAME": base}
    process = (
        processes.api(port=free_port(), env=env) if which == "api" else processes.worker(env=env)
    ).start()
    try:

        async def exited() -> bool:
            return not process.alive()

        await wait_for(exited, timeout=30, what=f"the {which} to stop")
        assert process.popen is not None and process.popen.returncode != 0
        errors = [
            line for line in process.log().splitlines() if "refused Taskgate's topology" in line
        ]
        assert errors, process.log()
        assert queue in errors[0] and "delete_queue" in errors[0]
    finally:
        process.stop()
