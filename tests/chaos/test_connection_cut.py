"""A worker whose broker connection is cut while it runs a task finishes that attempt. The
AMQP client cancels every delivery of a channel that closes; the run goes on, commits its
outcome, and the requeued message then finds the task finished."""

import httpx
import pytest

from tests.chaos.stack import Stack, counter, wait_settled
from tests.support.settings import AUTH_HEADERS, SETTINGS
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(120)]


async def test_a_cut_broker_connection_does_not_cut_short_a_running_task(
    migrated_database: None,
) -> None:
    node = TcpProxy(SETTINGS.rmq_host, SETTINGS.rmq_port)
    await node.start()
    stack = Stack(workers=1, env={"RMQ_HOSTS": node.address})
    try:
        await stack.start()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, base_url=stack.url, timeout=10) as http:
            # Given a task running in the worker
            submitted = await http.post(
                "/api/v1/queue/", json={"name": "count", "payload": {"seconds": 3}}
            )
            assert submitted.status_code == 202, submitted.text
            task_id = submitted.json()["id"]

            async def started() -> dict[str, int]:
                return await counter("test_task_starts", [task_id])

            await wait_for(started, timeout=20, what="the task to start")

            # When every connection to the broker is cut, and the node is back at once
            await node.stop()
            await node.start()

            # Then the attempt runs to its end: started once, completed once, one attempt
            states = await wait_settled([task_id], timeout=40)
            task = (await http.get(f"/api/v1/result/{task_id}")).json()
        assert states == {task_id: "succeeded"}
        assert task["attempts"] == 1, task
        assert await counter("test_task_starts", [task_id]) == {task_id: 1}
        assert await counter("test_task_completions", [task_id]) == {task_id: 1}
    finally:
        stack.stop()
        await stack.delete_queues()
        await node.stop()
