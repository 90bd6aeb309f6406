"""RMQ_HOSTS: a process connects to any node that answers and moves to another when its node
goes away, with its consumers restored there. Nodes are stood in for by TCP forwarders to
the one RabbitMQ here, which the test can take away; the three-node cluster test does the
same against real nodes."""

import asyncio
import uuid

import aio_pika
import pytest
from pydantic import ValidationError

from publishers.broker import build_broker
from publishers.failover import FailoverConnection
from tests.support.settings import SETTINGS, TEST_PREFIX, settings_with
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for


def test_hosts_are_read_with_default_ports() -> None:
    settings = settings_with(rmq_hosts="rabbit1:5681, rabbit2 ,[::1]:5683", rmq_port=5999)
    assert settings.rmq_addresses == [("rabbit1", 5681), ("rabbit2", 5999), ("::1", 5683)]
    assert settings.amqp_urls[2].endswith("@[::1]:5683/")
    assert settings_with(rmq_hosts="").rmq_addresses == [(SETTINGS.rmq_host, SETTINGS.rmq_port)]


@pytest.mark.parametrize(
    ("hosts", "problem"),
    [("rabbit1:x", "use host or host:port"), ("rabbit1:0", "1-65535"), ("::1", "brackets")],
)
def test_a_malformed_host_is_refused_by_name(hosts: str, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_with(rmq_hosts=hosts)
    assert problem in str(refused.value)
    assert repr(hosts) in str(refused.value)


async def test_a_node_that_does_not_answer_is_passed_over_at_start() -> None:
    dead = TcpProxy(SETTINGS.rmq_host, SETTINGS.rmq_port)  # never started: refuses
    live = TcpProxy(SETTINGS.rmq_host, SETTINGS.rmq_port)
    await live.start()
    broker = build_broker(settings_with(rmq_hosts=f"{dead.address},{live.address}"))
    try:
        connection = await broker.connect()
        assert isinstance(connection, FailoverConnection)
        assert connection.node == live.address
    finally:
        await broker.stop()
        await live.stop()


async def test_no_node_answering_is_one_error_naming_each() -> None:
    first, second = (TcpProxy(SETTINGS.rmq_host, SETTINGS.rmq_port) for _ in range(2))
    broker = build_broker(settings_with(rmq_hosts=f"{first.address},{second.address}"))
    with pytest.raises(ConnectionError) as failed:
        await broker.connect()
    assert first.address in str(failed.value) and second.address in str(failed.value)


async def test_a_lost_node_is_left_for_another_with_consumers_restored() -> None:
    nodes = [TcpProxy(SETTINGS.rmq_host, SETTINGS.rmq_port) for _ in range(3)]
    for node in nodes:
        await node.start()
    broker = build_broker(settings_with(rmq_hosts=",".join(node.address for node in nodes)))
    queue_name = f"{TEST_PREFIX}.failover.{uuid.uuid4().hex[:8]}"
    received: list[bytes] = []
    try:
        connection = await broker.connect()
        assert isinstance(connection, FailoverConnection)
        channel = await connection.channel()
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )

        async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                received.append(message.body)

        await queue.consume(consume)

        async def received_so_far() -> list[bytes]:
            return received

        await channel.default_exchange.publish(aio_pika.Message(b"before"), routing_key=queue_name)
        await wait_for(received_so_far, timeout=10, what="the first message")
        assert received == [b"before"]

        lost = next(node for node in nodes if node.address == connection.node)
        await lost.stop()

        async def moved() -> bool:
            return connection.node != lost.address and connection.connected.is_set()

        await wait_for(moved, timeout=30, what="the connection to move to another node")
        assert lost.open_connections == 0
        await channel.default_exchange.publish(aio_pika.Message(b"after"), routing_key=queue_name)

        async def both() -> bool:
            return len(received) == 2

        await wait_for(both, timeout=15, what="a message through the restored consumer")
        assert received == [b"before", b"after"]
    finally:
        with_channel = broker._connection
        if with_channel is not None:
            cleanup = await with_channel.channel()
            await cleanup.queue_delete(queue_name)
        await broker.stop()
        await asyncio.gather(*(node.stop() for node in nodes))
