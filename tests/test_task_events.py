"""Live events (GET /api/v1/result/{id}/events): Server-Sent Events of a task's changes,
starting with its state, ending after its terminal state, served by an API process that
hears of the worker's changes only through PostgreSQL; 404 for another tenant's task; a
client that goes away gives its stream back; `taskgate watch` follows one."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.task_events import TaskStreams
from db.models import Role
from tests.support.api import RESULTS, SUBMIT, get_task, submit
from tests.support.cli import api_process, taskgate
from tests.support.dashboard import later_task
from tests.support.settings import AUTH_HEADERS, settings_with
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

# How long any one stream in these tests may take to say what it must.
STREAM_TIMEOUT = 20.0


@dataclass
class Frame:
    """One block of a text/event-stream: an event (event, data, id), a comment, or both."""

    event: str | None = None
    data: list[str] = field(default_factory=list)
    id: str | None = None
    retry: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def task(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads("\n".join(self.data))
        return found


def parse(lines: list[str]) -> Frame:
    frame = Frame()
    for line in lines:
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if not name:
            frame.comments.append(value)
        elif name == "data":
            frame.data.append(value)
        elif name in ("event", "id", "retry"):
            setattr(frame, name, value)
    return frame


async def frames_of(chunks: AsyncIterator[Any]) -> AsyncIterator[Frame]:
    """The frames of a stream of text (or bytes), as they come."""
    buffer = ""
    async for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            yield parse(block.split("\n"))


class Followed:
    """An open stream, read one event at a time (the response stays open in between)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._frames = frames_of(response.aiter_text())

    async def next_event(self) -> Frame:
        """The next event (comments skipped); StopAsyncIteration once the stream ended."""
        async with asyncio.timeout(STREAM_TIMEOUT):
            while True:
                frame = await anext(self._frames)
                if frame.data:
                    return frame

    async def events(self) -> list[Frame]:
        """Every event left, until the server ends the stream."""
        found = []
        while True:
            try:
                found.append(await self.next_event())
            except StopAsyncIteration:
                return found

    async def close(self) -> None:
        await self._frames.aclose()
        await self.response.aclose()


@pytest.fixture(scope="module")
async def events_url(migrated_database: None, clean_broker: None) -> AsyncIterator[str]:
    """An API process of its own (not the worker, not this test process), serving one
    stream at a time."""
    async with api_process(SSE_MAX_STREAMS="1") as url:
        yield url


@pytest.fixture
async def remote(events_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of that process, with the acme admin's key."""
    async with httpx.AsyncClient(base_url=events_url, headers=AUTH_HEADERS, timeout=30) as http:
        yield http


async def opened(http: httpx.AsyncClient, task_id: str) -> Followed:
    """The task's stream, once the process has room for it (the one before given back)."""
    request = http.build_request("GET", f"{RESULTS}{task_id}/events")

    async def room() -> Followed | None:
        response = await http.send(request, stream=True)
        if response.status_code == 503:
            await response.aclose()
            return None
        return Followed(response)

    return await wait_for(room, timeout=STREAM_TIMEOUT, what="room for a stream")


async def test_a_stream_starts_with_the_task_as_get_renders_it(client, remote):
    # Given a task that waits an hour before it may run
    task_id = await later_task(client)

    # When its stream is opened
    stream = await opened(remote, task_id)
    try:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        frame = await stream.next_event()
    finally:
        await stream.close()

    # Then its first event is the task as it is, as GET renders it, under an id
    assert frame.event == "task" and frame.id
    assert frame.task == await get_task(client, task_id)


async def test_a_stream_shows_the_worker_running_the_task_then_its_end_and_closes(
    client, worker_log, remote
):
    # Given a task the worker runs for a second and a half, reporting progress
    task = await submit(client, "sleep", {"seconds": 1.5})

    # When its stream is followed on an API process other than the worker's
    stream = await opened(remote, task["id"])
    try:
        frames = await stream.events()
    finally:
        await stream.close()

    # Then it showed the task running, its progress growing, then succeeded, and ended there
    tasks = [frame.task for frame in frames]
    statuses = [task["status"] for task in tasks]
    assert "running" in statuses and statuses[-1] == "succeeded", statuses
    progress = [task["progress"]["fraction"] for task in tasks if task["progress"]]
    assert progress == sorted(progress) and len(set(progress)) >= 2, progress
    assert len({frame.id for frame in frames}) == len(frames)
    assert tasks[-1] == await get_task(client, task["id"])


async def test_a_finished_task_has_one_event_and_its_last_id_is_answered_204(client):
    # Given a task that was cancelled
    task_id = await later_task(client)
    assert (await client.post(f"{SUBMIT}{task_id}/cancel")).status_code == 200

    # When its stream is opened, then again with the id of the event it gave
    first = await client.get(f"{RESULTS}{task_id}/events")
    frames = [frame async for frame in frames_of(_single(first.text)) if frame.data]
    again = await client.get(
        f"{RESULTS}{task_id}/events", headers={"Last-Event-ID": frames[0].id or ""}
    )

    # Then the first ends after its one event, and the second says there is nothing more
    # (an EventSource stops reconnecting on a 204)
    assert first.status_code == 200 and len(frames) == 1
    assert frames[0].task["status"] == "cancelled"
    assert again.status_code == 204


async def test_another_tenants_task_and_an_unknown_one_are_not_found(client, keyed):
    # Given a task of acme, and a reader of another tenant
    task_id = await later_task(client)
    other = await keyed("events-other", Role.READ)

    # When the other tenant, then acme for an id that does not exist, open a stream
    theirs = await other.http.get(f"{RESULTS}{task_id}/events")
    unknown = await client.get(f"{RESULTS}01234567-89ab-7def-8123-456789abcdef/events")

    # Then both are 404 before any stream starts
    assert theirs.status_code == 404 and "text/event-stream" not in theirs.headers["content-type"]
    assert unknown.status_code == 404


async def test_a_client_that_goes_away_gives_its_stream_back(client, remote):
    # Given a process serving one stream at most, and a client following a task
    task_id = await later_task(client)
    first = await opened(remote, task_id)
    await first.next_event()

    # When a second client asks for a stream, then the first goes away
    refused = await remote.get(f"{RESULTS}{task_id}/events")
    await first.close()

    # Then the second was refused while the first was open, and the place comes free
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert "SSE_MAX_STREAMS" in refused.json()["detail"]
    later = await opened(remote, task_id)
    try:
        assert later.response.status_code == 200
        assert (await later.next_event()).task["id"] == task_id
    finally:
        await later.close()


async def test_a_stream_ends_after_its_longest_span_and_resumes_after_its_last_event(
    client, api_runtime
):
    # Given streams that last 0.8 s at most, quiet for 0.2 s between keep-alives
    settings = settings_with(sse_max_seconds=0.8, sse_poll_seconds=0.1)
    streams = TaskStreams(
        database=api_runtime.database,
        waiter=api_runtime.waiter,
        settings=settings,
        keepalive_seconds=0.2,
    )
    task_id = await later_task(client)

    # When a stream of a task that does not change is followed to its end, then resumed
    first = await _followed(streams, task_id, last_event_id=None)
    seen = [frame for frame in first if frame.data]
    resumed = await _followed(streams, task_id, last_event_id=seen[-1].id)

    # Then it said how long to wait before reconnecting, gave the task, kept alive while
    # quiet, and ended; the resumed one repeats nothing; neither keeps its place
    assert first[0].retry == "1000"
    assert [frame.task["id"] for frame in seen] == [task_id]
    assert sum(1 for frame in first if frame.comments) >= 2
    assert not any(frame.data for frame in resumed)
    assert sum(1 for frame in resumed if frame.comments) >= 2
    assert streams.open == 0


async def _followed(streams: TaskStreams, task_id: str, last_event_id: str | None) -> list[Frame]:
    stream = await streams.start(
        task_id=uuid.UUID(task_id), tenant=None, last_event_id=last_event_id
    )
    assert stream is not None and streams.open == 1
    try:
        async with asyncio.timeout(5):
            return [frame async for frame in frames_of(stream.body)]
    finally:
        stream.release()


async def _single(text: str) -> AsyncIterator[str]:
    yield text


async def test_watch_prints_a_line_per_change_until_the_task_ends(client, worker_log, events_url):
    # Given a task the worker runs for a second and a half
    task = await submit(client, "sleep", {"seconds": 1.5})

    # When `taskgate watch` follows it
    ran = await taskgate("watch", task["id"], url=events_url)

    # Then it printed one line per change, the last one its success, and exited 0
    assert ran.code == 0, ran.err
    lines = ran.out.strip().splitlines()
    assert any(" running attempt 1/" in line for line in lines), lines
    assert "% slept" in ran.out
    assert " succeeded attempt 1/" in lines[-1] and "100% slept 1.5 of 1.5 s" in lines[-1]


async def test_watch_exits_3_for_a_task_that_died(client, worker_log, events_url):
    # Given a task that fails at once, for good
    response = await client.post(
        SUBMIT, json={"name": "fail", "payload": {"message": "no luck"}, "max_attempts": 1}
    )
    task_id = response.json()["id"]

    # When `taskgate watch` follows it (as JSON Lines)
    ran = await taskgate("watch", task_id, "--json", url=events_url)

    # Then each line is the task, the last one dead, and the exit code says it failed
    assert ran.code == 3
    last = json.loads(ran.out.strip().splitlines()[-1])
    assert last["status"] == "dead" and last["id"] == task_id
    assert "no luck" in ran.error_line()
