"""Webhooks without a network: the signature, which addresses and URLs are refused, the
retry schedule, and the task as a delivery's body shows it."""

import hashlib
import hmac
import ipaddress
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from config import names
from db.webhooks import DueDelivery
from services.webhooks.sender import next_attempt_at, retry_wait
from services.webhooks.sending import delivery_body
from services.webhooks.signing import new_secret, signature
from services.webhooks.targets import TargetError, parse_url, refusal

SECRET = "whsec_test-secret"
BODY = b'{"event":"task.succeeded","event_id":"e"}'


def test_the_signature_is_an_hmac_of_the_time_and_the_raw_body():
    header = signature(secret=SECRET, body=BODY, timestamp=1_700_000_000)

    # Then it reads t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> keyed with the secret
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    # And another body, time or secret signs differently
    others = {
        signature(secret=SECRET, body=BODY + b" ", timestamp=1_700_000_000),
        signature(secret=SECRET, body=BODY, timestamp=1_700_000_001),
        signature(secret=new_secret(), body=BODY, timestamp=1_700_000_000),
    }
    assert header not in others and len(others) == 3


def test_each_secret_is_new_and_long():
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(secret.startswith("whsec_") and len(secret) >= 48 for secret in secrets)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        # IPv4 inside IPv6: mapped, 6to4, NAT64
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:0a00:0001::", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
    ],
)
def test_addresses_inside_a_network_are_refused(address, kind):
    assert refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https:///hook", "no host"),
        ("https://user:secret@example.com/", "credentials"),
        ("https://example.com/" + "a" * 2000, "longer than"),
    ],
)
def test_urls_that_are_no_http_target_are_refused(url, said):
    with pytest.raises(TargetError, match=said):
        parse_url(url)


def test_retries_double_from_a_second_to_an_hour_less_a_random_quarter_at_most():
    longest = [retry_wait(attempt, draw=lambda: 0.0) for attempt in (1, 2, 3, 4, 12, 13, 40)]
    assert longest == [1.0, 2.0, 4.0, 8.0, 2048.0, 3600.0, 3600.0]
    shortest = retry_wait(3, draw=lambda: 1.0)
    assert shortest == 4.0 * (1 - names.WEBHOOK_RETRY_JITTER)


def test_a_delivery_is_given_up_26_hours_after_its_event():
    occurred = datetime(2026, 1, 1, tzinfo=UTC)

    early = next_attempt_at(attempt=1, occurred_at=occurred, now=occurred)
    late = next_attempt_at(
        attempt=30, occurred_at=occurred, now=occurred + timedelta(hours=25, minutes=30)
    )

    assert early is not None and occurred < early <= occurred + timedelta(seconds=1)
    assert late is None


def test_the_body_shows_the_task_in_utc_as_the_api_does():
    # Given a delivery whose copy of the task PostgreSQL wrote in another time zone
    task_id, event_id = uuid.uuid4(), uuid.uuid4()
    row = {
        "id": str(task_id),
        "tenant": "acme",
        "name": "echo",
        "queue": "default",
        "priority": 5,
        "status": "succeeded",
        "payload": {"a": 1},
        "result": {"a": 1},
        "error": None,
        "attempts": 1,
        "max_attempts": 3,
        "errors": [],
        "replays": 0,
        "run_at": None,
        "cancel_requested_at": None,
        "created_at": "2026-01-01T13:00:00.123456+01:00",
        "started_at": "2026-01-01T13:00:01+01:00",
        "finished_at": "2026-01-01T13:00:02+01:00",
        "request_hash": "not shown",
    }
    delivery = DueDelivery(
        id=uuid.uuid4(),
        event="task.succeeded",
        event_id=event_id,
        task=row,
        occurred_at=datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC),
        attempt=1,
        url="https://example.com/",
        secret=SECRET,
    )

    body = json.loads(delivery_body(delivery))

    assert body["event"] == "task.succeeded" and body["event_id"] == str(event_id)
    assert body["occurred_at"] == "2026-01-01T12:00:02Z"
    assert body["task"]["id"] == str(task_id)
    assert body["task"]["created_at"] == "2026-01-01T12:00:00.123456Z"
    assert body["task"]["finished_at"] == "2026-01-01T12:00:02Z"
    assert "request_hash" not in body["task"]
