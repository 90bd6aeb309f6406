"""Pure helpers: describing unreadable messages, and the pagination cursor."""

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from db.tasks.reads import Cursor
from publishers.messages import TaskMessage
from services.errors import InvalidCursorError
from services.pagination import decode_cursor, encode_cursor
from subscribers.failure_policy import describe_errors, task_id_in


class HandlerArguments(BaseModel):
    """What FastStream validates a message into: the handler's arguments by name."""

    task: TaskMessage


def validation_error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        HandlerArguments.model_validate(data)
    return caught.value


def token(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def test_describe_errors_names_each_field_without_the_argument_name():
    # Given a message whose id is not a UUID and whose name is missing
    error = validation_error({"task": {"id": "not-a-uuid", "payload": {}}})

    # When the errors are described
    description = describe_errors(error)

    # Then each field is named by its path inside the message, on one line
    parts = description.split("; ")
    assert len(parts) == 2
    assert parts[0].startswith("id: ")
    assert parts[1] == "name: Field required"
    assert "task" not in description
    assert "\n" not in description


def test_describe_errors_names_nested_fields_with_dots():
    # Given a message whose payload is not an object
    error = validation_error({"task": {"id": str(uuid.uuid4()), "name": "echo", "payload": [1]}})

    # When the errors are described, then the field is named by its path
    assert describe_errors(error).startswith("payload: ")


def test_describe_errors_calls_a_missing_message_the_body():
    # Given no message at all where the handler's argument should be
    error = validation_error({})

    # When the errors are described, then the body itself is named
    assert describe_errors(error) == "body: Field required"


def test_task_id_in_finds_the_id_of_a_malformed_message():
    # Given a message with a valid id but nothing else right
    task_id = uuid.uuid4()
    body = json.dumps({"id": str(task_id), "name": 5}).encode()

    # When its task id is looked for, then it is found
    assert task_id_in(body) == str(task_id)


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b'{"name": "echo"}',
        b'{"id": "not-a-uuid"}',
        b'{"id": null}',
        b'["a", "list"]',
        b'"a string"',
        b"42",
    ],
)
def test_task_id_in_finds_nothing_in_a_body_without_a_valid_id(body):
    # Given a body that carries no valid task id
    # When its task id is looked for, then there is none
    assert task_id_in(body) is None


def test_cursor_survives_an_encode_decode_round_trip():
    # Given a cursor at a precise instant
    cursor = Cursor(created_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), id=uuid.uuid4())

    # When it is encoded and decoded
    encoded = encode_cursor(cursor)

    # Then the token is URL-safe and unpadded, and decodes to the same cursor
    assert encoded == encoded.strip("=")
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(encoded) == cursor


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "garbage",
        "!!!",
        token(b"no separator here"),
        token(b"2024-01-01T00:00:00+00:00|not-a-uuid"),
        token(b"not-a-date|" + str(uuid.uuid4()).encode()),
        token(b"2024-01-01T00:00:00|" + str(uuid.uuid4()).encode()),
        token(b"2024-01-01T00:00:00+00:00|" + str(uuid.uuid4()).encode() + b"|extra"),
        token(b"\xff\xfe\xfd"),
    ],
    ids=[
        "empty",
        "not-base64",
        "punctuation",
        "no-separator",
        "bad-uuid",
        "bad-date",
        "naive-date",
        "extra-part",
        "not-utf8",
    ],
)
def test_decoding_a_token_the_api_did_not_make_raises_invalid_cursor(bad):
    # Given a token that is not an encoded cursor
    # When it is decoded, then it is refused as an invalid cursor
    with pytest.raises(InvalidCursorError):
        decode_cursor(bad)
