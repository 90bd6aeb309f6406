"""A RabbitMQ cluster of three nodes loses a node under load, twice: first the node that
leads the work queue, later the node an API process is connected to. Two API processes
and three worker processes, given every node in RMQ_HOSTS, carry 5,000 tasks through it:
every accepted task succeeds, none runs its effect twice, and the stopped nodes rejoin."""

import asyncio
import time

import pytest

from tests.chaos.stack import Load, Stack, verify
from tests.cluster.nodes import Cluster, Node, running_cluster, unavailable_reason
from tests.support import rabbit
from tests.support.settings import SETTINGS

unavailable = unavailable_reason()
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.exclusive,
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(unavailable is not None, reason=unavailable or ""),
]

TASK = {"name": "count", "payload": {"seconds": 0.0}}
TASKS = 5000
# Tasks per request: batches keep the suite's time on a small machine; the single-submit
# path through a lost node is the broker-outage test's.
BATCH = 20
# Tasks accepted while a node is down, before it is started again.
WHILE_DOWN = 600


async def test_losing_a_node_under_load_loses_nothing(migrated_database: None) -> None:
    with running_cluster() as cluster, rabbit.probing(_amqp_url(cluster.nodes[0])):
        # Alone on the machine (marker `exclusive`): pools larger than the suite's 4, still
        # within PostgreSQL's 100 connections for five processes.
        env = {"RMQ_HOSTS": cluster.hosts, "DB_POOL_SIZE": "8"}
        stack = Stack(workers=3, apis=2, env=env)
        try:
            await stack.start()
            started = time.monotonic()
            load = Load(stack, concurrency=8, batch=BATCH)
            submitting = asyncio.create_task(load.submit(TASKS, TASK, deadline_s=240))

            # When the node that leads the work queue stops, and later starts again
            await load.accepted_at_least(1000, what="tasks accepted before the first node stops")
            leader = cluster.leader_of(stack.work_queue)
            await _down_while_submitting(cluster, leader, load)

            # And then the node of the first API process
            assert stack.api is not None
            api_node = cluster.node_of_process(stack.api.pid)
            await _down_while_submitting(cluster, api_node, load)
            await submitting

            # Then every submit was answered and accepted, and every task succeeded once
            # in effect
            assert load.timeouts == 0, f"{load.timeouts} submit(s) unanswered"
            assert load.statuses == {202: TASKS // BATCH}, load.statuses
            # Generous: a retry caught in a stopped node's delay queue waits for the relay.
            result = await verify(
                "a cluster node lost twice", load.accepted, started=started, timeout=180
            )
            print(result.line(), f"(stopped {leader.name}, then {api_node.name})")
            # And the stopped nodes are members again
            assert cluster.running_nodes() == {node.name for node in cluster.nodes}
        except BaseException:
            print(stack.logs(), cluster.logs(), cluster.queue_report(), sep="\n")
            raise
        finally:
            stack.stop()
            await stack.delete_queues()


async def _down_while_submitting(cluster: Cluster, node: Node, load: Load) -> None:
    """Stop `node`, let WHILE_DOWN submits be answered, start it again."""
    await asyncio.to_thread(cluster.stop_app, node)
    try:
        target = min(len(load.accepted) + WHILE_DOWN, TASKS)
        await load.accepted_at_least(target, timeout=90, what=f"submits while {node.name} is down")
    finally:
        await asyncio.to_thread(cluster.start_app, node)


def _amqp_url(node: Node) -> str:
    password = SETTINGS.rmq_password.get_secret_value()
    return f"amqp://{SETTINGS.rmq_user}:{password}@{node.address}/"
