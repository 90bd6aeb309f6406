"""Requests the API refuses, and how it says why: 422 in FastAPI's shape, 404, never 500."""

import json
import uuid

import pytest

from tests.support.api import RESULTS, SUBMIT, error_locations

pytestmark = pytest.mark.integration

BUILTIN_HANDLERS = ("echo", "emulate", "fail", "sleep")


async def test_malformed_json_is_rejected_naming_the_position_in_the_body(client):
    # Given a body that stops being JSON at a known character
    body = b'{"name": "echo", "payload": {]}'

    # When it is submitted
    response = await client.post(SUBMIT, content=body, headers={"content-type": "application/json"})

    # Then the API answers 422 pointing at that character of the body
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid"
    assert error["loc"] == ["body", body.index(b"]")]


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"name": 5}, ["body", "name"]),
        ({"name": None}, ["body", "name"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "echo", "payload": [1]}, ["body", "payload"]),
        ({"name": "echo", "payload": "text"}, ["body", "payload"]),
    ],
)
async def test_field_of_the_wrong_type_is_rejected_naming_the_field(client, body, location):
    # Given a submission with a field of the wrong type or shape
    # When it is submitted
    response = await client.post(SUBMIT, json=body)

    # Then the API answers 422 naming that field
    assert response.status_code == 422
    assert error_locations(response) == [location]


async def test_body_that_is_not_an_object_is_rejected(client):
    # Given a JSON body that is a list, not an object
    # When it is submitted
    response = await client.post(SUBMIT, json=[{"name": "echo"}])

    # Then the API answers 422 about the body
    assert response.status_code == 422
    assert error_locations(response) == [["body"]]


async def test_unknown_field_is_rejected_naming_it(client):
    # Given a submission with a field the contract does not have
    # When it is submitted
    response = await client.post(SUBMIT, json={"name": "echo", "urgency": "high"})

    # Then the API answers 422 naming the extra field
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "urgency"]
    assert error["type"] == "extra_forbidden"


async def test_unknown_handler_is_rejected_listing_the_known_handlers(client):
    # Given a submission naming a handler that does not exist
    # When it is submitted
    response = await client.post(SUBMIT, json={"name": "no-such-handler", "payload": {}})

    # Then the API answers 422 on the name, listing the handlers it knows
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert "no-such-handler" in error["msg"]
    for name in BUILTIN_HANDLERS:
        assert name in error["msg"]
        assert name in error["known"]


@pytest.mark.parametrize(
    ("name", "payload", "location"),
    [
        ("sleep", {"seconds": 99}, ["body", "payload", "seconds"]),
        ("sleep", {"seconds": -1}, ["body", "payload", "seconds"]),
        ("sleep", {"seconds": "long"}, ["body", "payload", "seconds"]),
        ("emulate", {"failure_rate": 2}, ["body", "payload", "failure_rate"]),
        ("emulate", {"failure_rate": -0.1}, ["body", "payload", "failure_rate"]),
        ("fail", {"message": ["not", "text"]}, ["body", "payload", "message"]),
    ],
)
async def test_payload_breaking_the_handlers_model_is_rejected_naming_the_field(
    client, name, payload, location
):
    # Given a payload the handler's payload model refuses
    # When it is submitted
    response = await client.post(SUBMIT, json={"name": name, "payload": payload})

    # Then the API answers 422 naming the field inside the payload
    assert response.status_code == 422
    assert error_locations(response) == [location]
    assert response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("headers", [{}, {"content-type": "text/plain"}])
async def test_body_without_json_content_type_is_refused_as_a_client_error(client, headers):
    # Given a JSON text sent without saying it is JSON
    body = b'{"name": "echo", "payload": {"a": 1}}'

    # When it is submitted
    response = await client.post(SUBMIT, content=body, headers=headers)

    # Then the API refuses it as the client's mistake, not with a server error (FastAPI does
    # not parse a body as JSON without a JSON content type: it answers 422 on the body)
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


async def test_malformed_task_id_is_rejected_naming_it(client):
    # Given an id that is not a UUID
    # When its result is requested
    response = await client.get(f"{RESULTS}not-a-uuid")

    # Then the API answers 422 naming the path parameter
    assert response.status_code == 422
    assert error_locations(response) == [["path", "result_uuid"]]


async def test_unknown_task_id_is_not_found(client):
    # Given a well-formed id that no task has
    task_id = uuid.uuid4()

    # When its result is requested
    response = await client.get(f"{RESULTS}{task_id}")

    # Then the API answers 404 with a message naming the id
    assert response.status_code == 404
    assert str(task_id) in response.json()["detail"]


async def test_unknown_queue_is_rejected_listing_the_allowed_values(client):
    # Given a queue number that does not exist
    # When it is viewed
    response = await client.get("/api/v1/queue/3")

    # Then the API answers 404 (there is no such queue) listing the queues there are
    assert response.status_code == 404
    detail = response.json()["detail"]
    for allowed in ("'1'", "'main'", "'2'", "'dead-letter'"):
        assert allowed in detail


@pytest.mark.parametrize(
    "payload",
    [{"text": "a\u0000b"}, {"key\u0000": 1}, {"text": "\ud800"}],
    ids=["nul-in-value", "nul-in-key", "lone-surrogate"],
)
async def test_payload_text_the_database_cannot_store_is_refused_as_a_client_error(client, payload):
    # Given an echo payload with text PostgreSQL's JSONB refuses (valid JSON escapes)
    body = json.dumps({"name": "echo", "payload": payload}).encode()

    # When it is submitted
    response = await client.post(SUBMIT, content=body, headers={"content-type": "application/json"})

    # Then the API refuses it as the client's mistake, naming the payload
    assert response.status_code == 422
    assert error_locations(response)[0][:2] == ["body", "payload"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_finite_number_in_payload_is_refused(client, number):
    # Given an echo payload holding a number JSON cannot represent
    body = f'{{"name": "echo", "payload": {{"n": {number}}}}}'.encode()

    # When it is submitted
    response = await client.post(SUBMIT, content=body, headers={"content-type": "application/json"})

    # Then the API refuses it rather than recording a different payload
    assert response.status_code == 422, response.text
