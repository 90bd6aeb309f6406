"""Progress: what a handler reports through its TaskContext shows on the task while it runs
(GET, the dashboard), written at most once per PROGRESS_MIN_INTERVAL_SECONDS, the latest
report winning and the last one kept; a stale attempt cannot overwrite it."""

import asyncio
import math
import re
import time
import uuid
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import text

from app.dashboard.rendering import CONTENT_SECURITY_POLICY
from services.handlers import progress
from services.handlers.context import TaskContext
from services.handlers.progress import ProgressRecorder, ProgressReport, ProgressReporter
from tests.support.api import SUBMIT, get_task, submit, wait_terminal
from tests.support.dashboard import later_task, signed_in
from tests.support.database import new_session, shared_database
from tests.support.dead_letters import execute_sql
from tests.support.settings import ADMIN_KEY
from tests.support.waiting import wait_for

# Every write of a task's progress, as the database saw it: counted without trusting the
# worker's own account. Only statements that set `progress` fire it.
WRITES_LOG = """
CREATE TABLE IF NOT EXISTS test_progress_writes (
    task_id uuid NOT NULL, progress jsonb NOT NULL, at timestamptz NOT NULL
);
CREATE OR REPLACE FUNCTION test_log_progress() RETURNS trigger AS $$
BEGIN
    INSERT INTO test_progress_writes VALUES (NEW.id, NEW.progress, clock_timestamp());
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE TRIGGER test_progress_writes AFTER UPDATE OF progress ON tasks
FOR EACH ROW EXECUTE FUNCTION test_log_progress();
"""
NO_WRITES_LOG = "DROP TRIGGER IF EXISTS test_progress_writes ON tasks"


class Writes:
    """A fake write: what it was given, and when (the loop's clock)."""

    def __init__(self, *, held: bool = True, fails: bool = False, hangs: bool = False) -> None:
        self.seen: list[tuple[float, ProgressReport]] = []
        self.held, self.fails, self.hangs = held, fails, hangs

    async def __call__(self, report: ProgressReport) -> bool:
        self.seen.append((asyncio.get_running_loop().time(), report))
        if self.fails:
            raise ConnectionResetError("the database went away")
        if self.hangs:
            await asyncio.Event().wait()
        return self.held

    @property
    def fractions(self) -> list[float]:
        return [report.fraction for _, report in self.seen]


def context_with(reporter: ProgressReporter | None) -> TaskContext:
    """A TaskContext with `reporter` and no database (these tests report progress only)."""
    return TaskContext(
        task_id=uuid.uuid4(),
        attempt=1,
        max_attempts=1,
        session=None,  # type: ignore[arg-type]
        sessions=None,  # type: ignore[arg-type]
        reporter=reporter,
    )


@pytest.mark.parametrize("fraction", [-0.01, 1.01, math.nan, math.inf, True, "0.5", None])
async def test_a_fraction_outside_0_to_1_is_a_value_error_and_reports_nothing(fraction):
    # Given a handler's context
    writes = Writes()
    context = context_with(ProgressReporter(writes, min_interval=0.01))

    # When it reports a fraction that is no number from 0 to 1
    with pytest.raises(ValueError, match="from 0 to 1"):
        await context.progress(fraction)

    # Then nothing is written
    await context.reporter.finish()
    assert writes.seen == []


def test_a_message_is_cut_to_200_characters_and_made_storable():
    report = ProgressReport.of(1, "\x00" + "é" * 300)

    assert report.fraction == 1.0 and isinstance(report.fraction, float)
    assert report.message == "\ufffd" + "é" * 199
    assert ProgressReport.of(0, "\ud800 lone").message == "? lone"
    with pytest.raises(TypeError):
        ProgressReport.of(0.5, 42)


async def test_reports_between_writes_keep_only_the_latest_written_once_the_interval_passed():
    # Given a reporter allowed one write per 0.3 s
    writes = Writes()
    reporter = ProgressReporter(writes, min_interval=0.3)

    # When a report is written, then two more come at once
    reporter.report(ProgressReport(0.1))
    await wait_for(lambda: _at_least(writes, 1), timeout=5, interval=0.01, what="a write")
    for fraction in (0.2, 0.3):
        reporter.report(ProgressReport(fraction))
    await wait_for(lambda: _at_least(writes, 2), timeout=5, interval=0.02, what="two writes")

    # Then the latest is written once the interval has passed, the one before it never
    assert writes.fractions == [0.1, 0.3]
    assert writes.seen[1][0] - writes.seen[0][0] >= 0.3
    await reporter.finish()
    assert writes.fractions == [0.1, 0.3]


async def test_what_waits_when_the_handler_ends_is_written_at_once_before_its_outcome():
    # Given a handler that reports twice within the interval, then returns
    writes = Writes()
    reporter = ProgressReporter(writes, min_interval=60)

    async def handler() -> str:
        reporter.report(ProgressReport(0.5, "half"))
        await asyncio.sleep(0)
        reporter.report(ProgressReport(1.0, "done"))
        return "result"

    # When it runs to its end through the reporter
    started = time.monotonic()
    result = await reporter.around(handler())

    # Then its last report was written before it counted as ended, not a minute later
    assert result == "result"
    assert [report.message for _, report in writes.seen] == ["half", "done"]
    assert time.monotonic() - started < 5
    reporter.report(ProgressReport(0.1))
    await asyncio.sleep(0)
    assert len(writes.seen) == 2  # no report after the end


async def test_a_cancelled_handler_drops_what_waits():
    # Given a handler whose second report waits for the interval
    writes = Writes()
    reporter = ProgressReporter(writes, min_interval=60)
    reported = asyncio.Event()

    async def handler() -> None:
        reporter.report(ProgressReport(0.5))
        await wait_for(lambda: _at_least(writes, 1), timeout=5, interval=0.01)
        reporter.report(ProgressReport(0.6))
        reported.set()
        await asyncio.Event().wait()

    # When the attempt is stopped (a cancel request, a timeout, the worker's shutdown)
    call = asyncio.ensure_future(reporter.around(handler()))
    await reported.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    # Then only the first report was written
    await asyncio.sleep(0.05)
    assert writes.fractions == [0.5]


async def test_a_failing_write_logs_one_warning_and_never_fails_the_handler(caplog):
    # Given a database that refuses every write
    writes = Writes(fails=True)
    reporter = ProgressReporter(writes, min_interval=0.05, task="the-task")

    # When the handler reports three times and ends
    for fraction in (0.1, 0.5, 0.9):
        reporter.report(ProgressReport(fraction))
        await wait_for(lambda seen=fraction: _reported(writes, seen), timeout=5, interval=0.02)
    await reporter.finish()

    # Then every write was tried, and one warning names the task
    assert writes.fractions == [0.1, 0.5, 0.9]
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and "the-task" in warnings[0].getMessage()


async def test_a_hanging_write_never_holds_the_handler_and_its_end_only_briefly(monkeypatch):
    # Given a database that never answers
    monkeypatch.setattr(progress, "FINAL_WRITE_TIMEOUT_SECONDS", 0.2)
    writes = Writes(hangs=True)
    reporter = ProgressReporter(writes, min_interval=0.01)

    # When the handler reports, then ends
    started = time.monotonic()
    await context_with(reporter).progress(0.5)
    reported_in = time.monotonic() - started
    await wait_for(lambda: _at_least(writes, 1), timeout=5, interval=0.02)
    await reporter.finish()

    # Then the report returned at once, and the end waited no longer than it may
    assert reported_in < 0.05
    assert time.monotonic() - started < 2


async def test_once_the_attempt_lost_its_task_no_report_is_written():
    # Given a write that finds the attempt no longer running its task
    writes = Writes(held=False)
    reporter = ProgressReporter(writes, min_interval=0.01)
    reporter.report(ProgressReport(0.1))
    await wait_for(lambda: _at_least(writes, 1), timeout=5, interval=0.02)

    # When the handler reports again and ends
    reporter.report(ProgressReport(0.2))
    await reporter.finish()

    # Then nothing more was written
    assert writes.fractions == [0.1]


async def _at_least(writes: Writes, count: int) -> bool:
    return len(writes.seen) >= count


async def _reported(writes: Writes, fraction: float) -> bool:
    return fraction in writes.fractions


@pytest.fixture(scope="module")
async def writes_log(migrated_database: None) -> AsyncIterator[None]:
    """Every progress write logged by a trigger (test_progress_writes), for this module."""
    async with shared_database().connection() as connection:
        await connection.execute(WRITES_LOG)
    yield
    await execute_sql(NO_WRITES_LOG)


async def logged_writes(task_id: str) -> list[dict[str, Any]]:
    """The progress written to the task, oldest first, each with `at` (epoch seconds)."""
    async with new_session() as session:
        rows = await session.execute(
            text(
                "SELECT progress, extract(epoch FROM at) AS at FROM test_progress_writes "
                "WHERE task_id = :id ORDER BY at"
            ),
            {"id": task_id},
        )
        return [{**row.progress, "at": float(row.at)} for row in rows]


@pytest.mark.integration
async def test_a_report_shows_on_the_task_while_it_runs_and_stays_once_it_ended(client, worker_log):
    # Given a task whose handler reports a quarter, then works on
    payload = {"fraction": 0.25, "message": "first quarter", "seconds": 30}
    task = await submit(client, "report_progress", payload)

    # When it runs in the worker
    async def reported() -> dict[str, Any] | None:
        found = await get_task(client, task["id"])
        return found if found["progress"] else None

    running = await wait_for(reported, timeout=20, what="the progress to show")

    # Then GET shows the report while the task runs
    assert running["status"] == "running"
    assert running["progress"]["fraction"] == 0.25
    assert running["progress"]["message"] == "first quarter"
    assert running["progress"]["updated_at"] >= running["started_at"]
    # and once it ended (cancelled here), its last report stays
    cancel = await client.post(f"{SUBMIT}{task['id']}/cancel")
    assert cancel.status_code == 202, cancel.text
    ended = await wait_terminal(client, task["id"])
    assert ended["status"] == "cancelled"
    assert ended["progress"] == running["progress"]


@pytest.mark.integration
async def test_a_thousand_reports_in_half_a_second_make_a_handful_of_writes_the_last_winning(
    client, worker_log, writes_log
):
    # Given a handler reporting a thousand times in about half a second (one write per
    # second allowed)
    task = await submit(client, "progress_burst", {"reports": 1000, "seconds": 0.5})

    # When it has run
    ended = await wait_terminal(client, task["id"])

    # Then the database saw a handful of writes, in order, the last report last
    assert ended["status"] == "succeeded"
    written = await logged_writes(task["id"])
    assert 1 <= len(written) <= 3, written
    fractions = [entry["fraction"] for entry in written]
    assert fractions == sorted(fractions)
    assert written[-1]["fraction"] == 1.0 and written[-1]["message"] == "step 1000 of 1000"
    assert ended["progress"]["fraction"] == 1.0
    assert ended["progress"]["message"] == "step 1000 of 1000"


@pytest.mark.integration
async def test_the_sleep_handler_reports_its_progress_every_second(client, worker_log, writes_log):
    # Given the built-in sleep handler, asked for 2.5 s
    task = await submit(client, "sleep", {"seconds": 2.5})

    # When it runs
    async def midway() -> dict[str, Any] | None:
        found = await get_task(client, task["id"])
        progress = found["progress"] or {}
        return found if 0 < progress.get("fraction", 0) < 1 else None

    running = await wait_for(midway, timeout=20, what="progress between 0 and 1")
    ended = await wait_terminal(client, task["id"])

    # Then it said how far it was while it ran, and all of it once done
    assert running["status"] == "running"
    assert re.fullmatch(r"slept [12] of 2\.5 s", running["progress"]["message"])
    assert ended["status"] == "succeeded"
    assert ended["progress"]["fraction"] == 1.0
    assert ended["progress"]["message"] == "slept 2.5 of 2.5 s"
    # each written a second apart at least, but the last (written as the handler ended)
    written = await logged_writes(task["id"])
    assert written[0]["message"] == "slept 0 of 2.5 s" and written[-1]["fraction"] == 1.0
    gaps = [later["at"] - earlier["at"] for earlier, later in pairwise(written[:-1])]
    assert len(written) >= 3 and all(gap >= 0.9 for gap in gaps), written


@pytest.mark.integration
async def test_an_attempt_that_lost_its_task_cannot_overwrite_the_progress_of_the_next(client):
    # Given a task running its second attempt (its first worker was given up for lost)
    task_id = await later_task(client)
    await execute_sql(
        "UPDATE tasks SET status = 'running', attempts = 2, started_at = now() WHERE id = :id",
        id=task_id,
    )
    recorder = ProgressRecorder(database=shared_database(), min_interval=0.01)

    async def report(attempt: int, fraction: float) -> None:
        reporter = recorder.reporter(task_id=uuid.UUID(task_id), attempt=attempt)
        reporter.report(ProgressReport(fraction, f"attempt {attempt}"))
        await reporter.finish()

    try:
        # When the first attempt's worker reports, then the second's, then the first again
        await report(1, 0.9)
        before = (await get_task(client, task_id))["progress"]
        await report(2, 0.3)
        await report(1, 0.95)

        # Then only the second attempt's report landed
        assert before is None
        progress = (await get_task(client, task_id))["progress"]
        assert progress["fraction"] == 0.3 and progress["message"] == "attempt 2"
    finally:
        await execute_sql(
            "UPDATE tasks SET status = 'cancelled', finished_at = now() WHERE id = :id",
            id=task_id,
        )
    # and nothing lands on a task that has ended, even from its own attempt
    await report(2, 1.0)
    assert (await get_task(client, task_id))["progress"]["fraction"] == 0.3


@pytest.mark.integration
async def test_the_dashboard_draws_a_bar_for_a_running_task_and_the_last_report_once_ended(
    api, client
):
    # Given a running task whose handler reported 42 %, with markup in its message
    task_id = await later_task(client)
    await execute_sql(
        "UPDATE tasks SET status = 'running', attempts = 1, started_at = now() - interval '1 s',"
        " progress = jsonb_build_object('fraction', 0.42, 'message', 'almost <b>half</b>',"
        " 'updated_at', now(), 'attempt', 1) WHERE id = :id",
        id=task_id,
    )
    dashboard = await signed_in(api, ADMIN_KEY)
    bar = '<progress class="progress" max="100" value="42"'
    try:
        # When its page and the list of running tasks are looked at
        page = await dashboard.http.get(f"/dashboard/tasks/{task_id}")
        listing = await dashboard.http.get("/dashboard/tasks", params={"status": "running"})

        # Then both draw its bar, the message as text, under the dashboard's own CSP
        assert page.status_code == 200 and bar in page.text
        assert "42% · almost &lt;b&gt;half&lt;/b&gt;" in page.text
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        row = re.search(rf'<tr data-task="{task_id}">.*?</tr>', listing.text, re.S)
        assert row is not None and bar in row[0]

        # and once it ended, its page keeps the last report, without a bar
        await execute_sql(
            "UPDATE tasks SET status = 'succeeded', finished_at = now() WHERE id = :id",
            id=task_id,
        )
        ended = await dashboard.http.get(f"/dashboard/tasks/{task_id}")
        assert "<progress" not in ended.text
        assert "42% · almost &lt;b&gt;half&lt;/b&gt;" in ended.text
        assert "last reported" in ended.text
    finally:
        await dashboard.http.aclose()
