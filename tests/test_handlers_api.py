"""Handlers as clients see them: listed with their policy, stopped at their timeout."""

import pytest

from tests.support.api import wait_terminal

pytestmark = pytest.mark.integration


async def test_handlers_are_listed_with_policy_and_payload_schema(client):
    # When the handlers are listed
    response = await client.get("/api/v1/handlers")

    # Then every built-in is there with its retry policy, timeout and payload schema
    assert response.status_code == 200
    handlers = {item["name"]: item for item in response.json()}
    assert {"emulate", "echo", "sleep", "fail"} <= set(handlers)
    assert handlers["emulate"]["max_attempts"] == 1
    assert handlers["fail"]["max_attempts"] == 3
    sleep_schema = handlers["sleep"]["payload_schema"]
    assert sleep_schema["properties"]["seconds"]["maximum"] == 60
    assert handlers["hang"]["timeout_seconds"] == 0.5
    assert set(handlers["echo"]["backoff"]) == {"base", "factor", "maximum", "jitter"}


@pytest.mark.parametrize("name", ["hang", "hang_sync"])
async def test_handler_running_past_its_timeout_fails_with_a_timeout_error(client, worker, name):
    # Given a handler with a 0.5 s timeout and a single attempt, asked to run for 3 s
    response = await client.post("/api/v1/queue/", json={"name": name, "payload": {"seconds": 3}})

    # When a worker runs it
    task = await wait_terminal(client, response.json()["id"])

    # Then the attempt is stopped at the timeout and the task dies saying so
    assert task["status"] == "dead"
    assert "TaskTimeoutError" in task["error"]
    assert "0.5 s timeout" in task["error"]


async def test_openapi_carries_each_handlers_payload_model(client):
    # Given the OpenAPI document
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    # When the submit's variants are read
    variants = schemas["TaskSubmit"]["oneOf"]

    # Then there is one per handler, naming it and pointing at its payload model (and one
    # without a name, for the default handler), with the handler's fields
    handlers = (await client.get("/api/v1/handlers")).json()
    named = {
        variant["properties"]["name"]["const"]: variant["properties"]["payload"]["$ref"]
        for variant in variants
        if "name" in variant["properties"]
    }
    assert named == {
        handler["name"]: f"#/components/schemas/{handler['name']}.payload" for handler in handlers
    }
    unnamed = [variant for variant in variants if "name" not in variant["properties"]]
    assert [v["properties"]["payload"]["$ref"] for v in unnamed] == [
        "#/components/schemas/emulate.payload"
    ]
    assert schemas["sleep.payload"]["properties"]["seconds"]["maximum"] == 60
    assert schemas["nap.payload"]["properties"]["seconds"]["type"] == "number"
