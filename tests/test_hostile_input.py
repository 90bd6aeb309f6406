"""Hostile input: each answered with a 4xx that says what is wrong, never a 500, and never
at the cost of a neighbour: 300 good submits sent among them are all accepted."""

import asyncio
import base64
import json
from typing import Any

import pytest

from services.submission import Submission
from tests.support.api import DEAD_LETTERS, RESULTS, SUBMIT, marker

pytestmark = pytest.mark.integration

FAR = "9999-12-31T23:59:59-23:59"  # past year 9999 once in UTC
EARLY = "0001-01-01T00:00:00+14:00"  # before year 1 once in UTC
NUL, SURROGATE = "a\u0000b", "a\ud800b"


def _deep(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels):
        value = {"x": value}
    return value


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# (method, path, query, JSON body or raw bytes, headers)
HOSTILE: list[tuple[str, str, dict[str, Any] | None, Any, dict[str, str] | None]] = [
    ("POST", SUBMIT, None, {"name": "echo", "run_at": FAR}, None),
    ("POST", SUBMIT, None, {"name": "echo", "run_at": EARLY}, None),
    ("POST", SUBMIT, None, {"name": "echo", "run_at": "+275760-09-13T00:00:00Z"}, None),
    ("POST", SUBMIT, None, {"name": "echo", "run_at": 1e20}, None),
    ("POST", SUBMIT, None, {"name": "echo", "payload": {"k": NUL}}, None),
    ("POST", SUBMIT, None, {"name": "echo", "payload": {NUL: 1}}, None),
    ("POST", SUBMIT, None, {"name": "echo", "payload": {"k": SURROGATE}}, None),
    ("POST", SUBMIT, None, {"name": NUL}, None),
    ("POST", SUBMIT, None, {"name": "echo", "idempotency_key": NUL}, None),
    ("POST", SUBMIT, None, {"name": "echo", "idempotency_key": SURROGATE}, None),
    ("POST", SUBMIT, None, {"name": "echo", "queue": NUL}, None),
    ("POST", SUBMIT, None, {"name": "echo", "payload": _deep(40)}, None),
    (
        "POST",
        SUBMIT,
        None,
        b'{"name": "echo", "payload": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        None,
    ),
    ("POST", SUBMIT, None, b'{"name": "echo", "payload": {"n": NaN}}', None),
    ("POST", SUBMIT, None, b'{"name": "echo", "payload": {"n": Infinity}}', None),
    ("POST", SUBMIT, None, b'{"name": "echo", "payload": {"n": 1e999}}', None),
    ("POST", SUBMIT, None, b'{"name": "echo", "payload": {"n": ' + b"9" * 5000 + b"}}", None),
    ("POST", SUBMIT, None, {"name": "echo", "priority": 10**30}, None),
    ("POST", SUBMIT, None, {"name": "echo", "max_attempts": 10**30}, None),
    ("POST", SUBMIT, None, {"name": "echo", "delay_seconds": 1e308}, None),
    ("POST", SUBMIT, None, b"\xff\xfe not utf-8", None),
    ("POST", SUBMIT, None, b"[1, 2, 3]", None),
    ("POST", SUBMIT, None, {"name": "echo"}, {"Idempotency-Key": "k" * 500}),
    ("POST", f"{SUBMIT}batch", None, {"tasks": [{"name": "echo", "run_at": FAR}]}, None),
    ("POST", f"{SUBMIT}batch", None, {"tasks": [{"name": "echo", "payload": {"k": NUL}}]}, None),
    ("GET", RESULTS, {"created_after": FAR}, None, None),
    ("GET", RESULTS, {"created_before": EARLY}, None, None),
    ("GET", RESULTS, {"created_after": "0.5"}, None, None),
    ("GET", RESULTS, {"name": NUL}, None, None),
    ("GET", RESULTS, {"queue": "x\u0000"}, None, None),
    ("GET", RESULTS, {"status": ["dead"] * 50}, None, None),
    ("GET", RESULTS, {"name": [f"n{i}" for i in range(50)]}, None, None),
    ("GET", RESULTS, {"limit": 10**30}, None, None),
    (
        "GET",
        RESULTS,
        {"cursor": _cursor(f"{FAR}|00000000-0000-0000-0000-000000000000")},
        None,
        None,
    ),
    (
        "GET",
        RESULTS,
        {"cursor": _cursor(f"{EARLY}|00000000-0000-0000-0000-000000000000")},
        None,
        None,
    ),
    ("GET", RESULTS, {"cursor": "!!!"}, None, None),
    ("GET", f"{RESULTS}not-a-uuid", None, None, None),
    ("GET", f"{RESULTS}00000000-0000-0000-0000-000000000000", {"wait": 1e308}, None, None),
    ("GET", DEAD_LETTERS, {"error": NUL}, None, None),
    ("GET", DEAD_LETTERS, {"died_after": FAR}, None, None),
    ("DELETE", DEAD_LETTERS, {"name": NUL}, None, None),
    ("POST", f"{DEAD_LETTERS}replay", None, {"error": NUL, "limit": 1}, None),
    ("POST", f"{DEAD_LETTERS}replay", None, {"died_after": EARLY, "limit": 1}, None),
    ("POST", "/api/v1/keys", None, {"tenant": NUL}, None),
    ("POST", "/api/v1/keys", None, {"name": NUL}, None),
]


async def send(client, method: str, path: str, query, body, headers):
    """The request as a client writes it: JSON escapes (a lone surrogate goes as \\ud800)."""
    if body is None:
        return await client.request(method, path, params=query, headers=headers)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.request(
        method,
        path,
        params=query,
        content=content,
        headers={"content-type": "application/json", **(headers or {})},
    )


@pytest.mark.parametrize(("method", "path", "query", "body", "headers"), HOSTILE)
async def test_hostile_input_is_answered_with_a_4xx_that_says_why(
    client, method, path, query, body, headers
):
    response = await send(client, method, path, query, body, headers)
    assert 400 <= response.status_code < 500, response.text
    detail = response.json()["detail"]
    assert detail, response.text


async def test_hostile_input_costs_no_good_neighbour_its_submit(client):
    # Given 300 good submits sent at once, with every hostile request among them
    tag = marker()

    async def good(n: int) -> int:
        body = {"name": "echo", "payload": {"tag": tag, "n": n}, "delay_seconds": 3600}
        return (await client.post(SUBMIT, json=body)).status_code

    async def hostile(case) -> int:
        return (await send(client, *case)).status_code

    results = await asyncio.gather(
        *(good(n) for n in range(300)), *(hostile(case) for case in HOSTILE)
    )

    # Then every good one is accepted, and every hostile one refused with a 4xx
    assert results[:300] == [202] * 300
    assert all(400 <= status < 500 for status in results[300:]), results[300:]


async def test_a_row_postgresql_refuses_fails_only_its_own_request(api_runtime):
    # Given submits made together, one of which PostgreSQL refuses (a NUL in its key, past
    # every check: the submitter is called directly)
    submitter = api_runtime.submitter
    good = [Submission(name="echo", payload={"n": n}, delay_seconds=3600) for n in range(5)]
    bad = Submission(name="echo", payload={}, idempotency_key=NUL, delay_seconds=3600)

    # When they are recorded in one shared INSERT
    outcomes = await asyncio.gather(
        *(submitter.submit_task(submission=s, tenant="acme") for s in [*good, bad]),
        return_exceptions=True,
    )

    # Then only the bad one fails, with a 4xx-mapped error; the others are accepted
    assert [getattr(o, "created", None) for o in outcomes[:5]] == [True] * 5
    assert "PostgreSQL refused the task" in str(outcomes[5])
    assert json.dumps(str(outcomes[5]))
