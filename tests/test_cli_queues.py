"""`taskgate queues`: a queue's controls from the command line, against a real API process;
what the command did is read back from the API."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from tests.support.cli import api_process, taskgate
from tests.support.database import new_session
from tests.support.settings import AUTH_HEADERS

pytestmark = pytest.mark.integration

CONTROLS = "/api/v1/queues/ordering"


@pytest.fixture(scope="module")
async def api_url(migrated_database: None, clean_broker: None) -> AsyncIterator[str]:
    async with api_process() as url:
        yield url


@pytest.fixture
async def direct(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API read directly; the queue's controls removed after the test."""
    async with httpx.AsyncClient(base_url=api_url, headers=AUTH_HEADERS, timeout=10) as http:
        yield http
    async with new_session() as session:
        await session.execute(text("DELETE FROM queue_settings WHERE name = 'ordering'"))
        await session.commit()


async def test_pause_set_and_resume_change_what_the_api_holds(api_url, direct):
    # When the queue is paused, given limits, then resumed
    paused = await taskgate("queues", "pause", "ordering", url=api_url)
    limited = await taskgate(
        "queues", "set", "ordering", "--concurrency", "3", "--per-key", "1", "--rate", "2.5",
        url=api_url,
    )  # fmt: skip
    shown = await taskgate("queues", "show", "ordering", "--json", url=api_url)

    # Then each said what it did, and the API holds it
    assert paused.code == 0, paused.err
    assert "queue ordering (tenant acme): paused" in paused.out
    assert limited.code == 0, limited.err
    assert "concurrency 3, per key 1, rate 2.5/s" in limited.out
    assert shown.json()["paused"] is True
    controls = (await direct.get(CONTROLS)).json()
    assert (controls["concurrency_limit"], controls["key_concurrency_limit"]) == (3, 1)
    assert controls["rate_limit_per_second"] == 2.5

    resumed = await taskgate("queues", "resume", "ordering", url=api_url)
    off = await taskgate("queues", "set", "ordering", "--concurrency", "off", url=api_url)
    assert resumed.code == 0 and off.code == 0, (resumed.err, off.err)
    controls = (await direct.get(CONTROLS)).json()
    assert controls["paused"] is False and controls["concurrency_limit"] is None
    assert controls["key_concurrency_limit"] == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["set", "ordering"], "give --concurrency, --per-key or --rate"),
        (["set", "ordering", "--concurrency", "two"], "--concurrency takes a whole number"),
        (["set", "ordering", "--rate", "0"], "--rate must be more than 0"),
        (["show", "nosuchqueue"], "no queue named 'nosuchqueue'"),
    ],
)
async def test_a_mistake_is_one_line_saying_what_is_wrong(api_url, direct, args, says):
    ran = await taskgate("queues", *args, url=api_url)
    assert ran.code != 0
    assert says in ran.err, ran.err
    assert len(ran.err.strip().splitlines()) == 1, ran.err
