"""The AsyncAPI document: the exchanges, queues and message contract of the workers."""

from typing import Any

import pytest

from publishers.topology import Band
from tests.support import rabbit
from tests.support.settings import SETTINGS

pytestmark = pytest.mark.integration


def amqp_names(schema: dict[str, Any], kind: str) -> set[str]:
    """The names of the exchanges (`kind="exchange"`) or queues the channels are bound to."""
    names = set()
    for channel in schema["channels"].values():
        binding = channel.get("bindings", {}).get("amqp", {})
        if kind in binding:
            names.add(binding[kind]["name"])
    return names


@pytest.fixture
async def asyncapi(client) -> dict[str, Any]:
    response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


async def test_asyncapi_names_the_work_exchange_and_queue(asyncapi):
    # Given the AsyncAPI document
    # When the channels' AMQP bindings are read
    exchanges, queues = amqp_names(asyncapi, "exchange"), amqp_names(asyncapi, "queue")

    # Then the work exchange and every band of the default queue are among them
    assert SETTINGS.rmq_queue_exchange in exchanges
    assert {rabbit.band_queue("default", band) for band in Band} <= queues


async def test_asyncapi_names_the_dead_letter_exchange_and_queue(asyncapi):
    # Given the AsyncAPI document
    # When the channels' AMQP bindings are read
    exchanges, queues = amqp_names(asyncapi, "exchange"), amqp_names(asyncapi, "queue")

    # Then the dead-letter exchange and queue are among them
    assert SETTINGS.rmq_queue_dead_letter_exchange in exchanges
    assert SETTINGS.rmq_queue_dead_letter_name in queues


async def test_asyncapi_describes_the_task_message_payload(asyncapi):
    # Given the AsyncAPI document
    # When the TaskMessage schema is read
    task_message = asyncapi["components"]["schemas"]["TaskMessage"]

    # Then it is an object of id (a UUID), name and payload, with id and name required
    properties = task_message["properties"]
    assert {"id", "name", "payload"} <= set(properties)
    assert properties["id"]["format"] == "uuid"
    assert properties["name"]["type"] == "string"
    assert properties["payload"]["type"] == "object"
    assert {"id", "name"} <= set(task_message["required"])


async def test_asyncapi_uses_task_message_as_a_message_payload(asyncapi):
    # Given the AsyncAPI document
    # When the messages' payloads are read
    payloads = [message["payload"] for message in asyncapi["components"]["messages"].values()]

    # Then the task message is the payload of at least one message
    assert {"$ref": "#/components/schemas/TaskMessage"} in payloads


async def test_asyncapi_page_is_served_as_html(client):
    # Given the API running
    # When the AsyncAPI page is requested
    response = await client.get("/asyncapi")

    # Then an HTML page is served
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
