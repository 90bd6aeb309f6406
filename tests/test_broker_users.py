"""The RabbitMQ users compose.yaml gives the API and the workers (deploy/rabbitmq/users.sh):
with exactly those permissions, on a vhost of their own, a task goes through; the API's
user may not consume a work queue."""

import asyncio
import re
import subprocess
import uuid
from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
from aiormq.exceptions import ChannelAccessRefused

from config import names
from tests.chaos.stack import api_answers, free_port
from tests.support import processes, services
from tests.support.api import wait_terminal
from tests.support.settings import AUTH_HEADERS, SETTINGS
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, services.needs_service_control]

SCRIPT = (processes.ROOT / "deploy" / "rabbitmq" / "users.sh").read_text()
VHOST = f"taskgate-users-test-{uuid.uuid4().hex[:6]}"
PASSWORD = "users-test-password"


def _regex(variable: str) -> str:
    """A permission regex as the script writes it (JSON-escaped inside shell quotes)."""
    match = re.search(rf"^{variable}='([^']*)'$", SCRIPT, re.MULTILINE)
    assert match, variable
    return match[1].replace("\\\\", "\\")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
async def broker_users(migrated_database) -> AsyncIterator[dict[str, str]]:
    """The vhost and the two users, with the script's permissions; removed after."""
    everything, exchanges = _regex("names"), _regex("exchanges")
    users = {"api": f"{VHOST}-api", "worker": f"{VHOST}-worker"}
    await asyncio.to_thread(rabbitmqctl, "add_vhost", VHOST)
    try:
        for role, user in users.items():
            await asyncio.to_thread(rabbitmqctl, "add_user", user, PASSWORD)
            read = exchanges if role == "api" else everything
            await asyncio.to_thread(
                rabbitmqctl, "set_permissions", "-p", VHOST, user, everything, everything, read
            )
        yield users
    finally:
        for user in users.values():
            await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "delete_user", user])
        await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "delete_vhost", VHOST])


def _env(user: str) -> dict[str, str]:
    """Taskgate's default names (those the permissions are written for), on the vhost."""
    return {
        "RMQ_VHOST": VHOST,
        "RMQ_USER": user,
        "RMQ_PASSWORD": PASSWORD,
        "RMQ_QUEUE_EXCHANGE": names.DEFAULT_EXCHANGE,
        "RMQ_QUEUE_NAME": names.DEFAULT_QUEUE,
        "RMQ_QUEUE_DEAD_LETTER_EXCHANGE": names.DEFAULT_DEAD_LETTER_EXCHANGE,
        "RMQ_QUEUE_DEAD_LETTER_NAME": names.DEFAULT_DEAD_LETTER_QUEUE,
    }


async def test_the_api_and_worker_users_run_a_task_and_the_api_cannot_consume(broker_users):
    # Given an API and a worker, each with its own user and only its permissions
    port = free_port()
    api = processes.api(port=port, env=_env(broker_users["api"])).start()
    worker = processes.worker(env=_env(broker_users["worker"])).start()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=AUTH_HEADERS, timeout=10
        ) as http:
            await wait_for(lambda: api_answers(http), timeout=30, what="the API")
            await wait_for(lambda: _ready(http), timeout=30, what="the API's broker")

            # When a task is submitted, then a worker runs it
            response = await http.post("/api/v1/queue/", json={"name": "echo", "payload": {}})
            assert response.status_code == 202, response.text
            done = await wait_terminal(http, response.json()["id"], timeout=30)
            assert done["status"] == "succeeded", (done, worker.log()[-2000:])

        # And the API's user may not take a task off a work queue
        url = SETTINGS.amqp_url.rsplit("@", 1)[1]
        connection = await aio_pika.connect(
            f"amqp://{broker_users['api']}:{PASSWORD}@{url.split('/')[0]}/{VHOST}"
        )
        async with connection:
            channel = await connection.channel()
            with pytest.raises(ChannelAccessRefused):
                queue = await channel.get_queue(f"{names.DEFAULT_QUEUE}.default.normal")
                await queue.get(fail=False)
    finally:
        worker.stop()
        api.stop()


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/ready")).status_code == 200
