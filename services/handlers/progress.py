"""A handler's progress reports: checked, then written beside the handler, never in its
transaction (so they show while it runs), at most once per PROGRESS_MIN_INTERVAL_SECONDS
per attempt. A report in between replaces the one waiting, which is written once the
interval has passed; what still waits when the handler ends is written then, before its
outcome, so the last report is not lost. The handler never waits on the database: a write
that fails or hangs is logged and dropped, and the task goes on."""

import asyncio
import contextlib
import logging
import math
import numbers
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from db.session import Database
from db.tasks.progress import set_progress

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A report's message is cut to this many characters.
MESSAGE_MAX_CHARS = 200
# How long one write may take before it is given up (it runs beside the handler), and how
# long the last one may hold the attempt's outcome back once the handler has ended.
WRITE_TIMEOUT_SECONDS = 5.0
FINAL_WRITE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class ProgressReport:
    """How far an attempt is (0 to 1), and what its handler says of it."""

    fraction: float
    message: str | None = None

    @classmethod
    def of(cls, fraction: object, message: object = None) -> "ProgressReport":
        """A report from a handler's values: ValueError unless `fraction` is a number from 0
        to 1; `message` is cut to MESSAGE_MAX_CHARS and made storable."""
        value = float(fraction) if isinstance(fraction, numbers.Real) else math.nan
        if isinstance(fraction, bool) or not 0 <= value <= 1:
            raise ValueError(f"progress is a number from 0 to 1, not {fraction!r}")
        if message is not None and not isinstance(message, str):
            raise TypeError(f"a progress message is a string, not {type(message).__name__}")
        return cls(value, None if message is None else _storable(message))


def _storable(message: str) -> str:
    """The message cut to length, as jsonb keeps it: no NUL, no unpaired surrogate."""
    cut = message[:MESSAGE_MAX_CHARS].replace("\x00", "\ufffd")
    return cut.encode("utf-8", "replace").decode("utf-8")


# Records one report; False once the attempt no longer runs its task.
Write = Callable[[ProgressReport], Awaitable[bool]]


class ProgressReporter:
    """One attempt's reports, written by a task of its own at most once per `min_interval`
    seconds; `report` never waits."""

    def __init__(self, write: Write, *, min_interval: float, task: str = "") -> None:
        self._write = write
        self._min_interval = min_interval
        self._task = task
        self._waiting: ProgressReport | None = None
        self._written_at: float | None = None
        self._writer: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()
        self._closed = False
        self._failing = False

    def report(self, report: ProgressReport) -> None:
        """Keep `report` as the latest, to be written as soon as the interval allows."""
        if self._closed:
            return
        self._waiting = report
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())

    async def around(self, call: Awaitable[T]) -> T:
        """Await the handler's `call`; once it returned or raised, write what waits (a
        cancelled call drops it: its attempt is being stopped)."""
        try:
            result = await call
        except asyncio.CancelledError:
            self.abandon()
            raise
        except Exception:
            await self.finish()
            raise
        await self.finish()
        return result

    async def finish(self) -> None:
        """Write what waits now, without waiting for the interval (for a short while at
        most), and take no more reports."""
        self._closed = True
        writer = self._writer
        if writer is None or writer.done():
            return
        self._hurry.set()
        try:
            done, _ = await asyncio.wait({writer}, timeout=FINAL_WRITE_TIMEOUT_SECONDS)
        except asyncio.CancelledError:
            self.abandon()
            raise
        if not done:
            logger.warning("gave up writing the last progress of task %s", self._task)
            self.abandon()

    def abandon(self) -> None:
        """Drop what waits, stop writing, and take no more reports."""
        self._closed = True
        self._waiting = None
        if self._writer is not None:
            self._writer.cancel()

    async def _write_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting is not None:
            if self._written_at is not None:
                pause = self._written_at + self._min_interval - loop.time()
                if pause > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), pause)
            report, self._waiting = self._waiting, None
            if report is None:
                return
            self._written_at = loop.time()
            if not await self._write_one(report):
                # The attempt ended, or another worker took the task over: nothing it
                # reports may land any more.
                self._closed, self._waiting = True, None

    async def _write_one(self, report: ProgressReport) -> bool:
        """Write `report`; False if the attempt no longer runs the task."""
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                held = await self._write(report)
        except Exception as error:
            # Once per run of failures: a database that is down would say so every second.
            log = logger.debug if self._failing else logger.warning
            log("could not record the progress of task %s (%r); it runs on", self._task, error)
            self._failing = True
            return True
        self._failing = False
        return held


class ProgressRecorder:
    """Makes each attempt's reporter, writing through the process's database."""

    def __init__(self, *, database: Database, min_interval: float) -> None:
        self._database = database
        self._min_interval = min_interval

    def reporter(self, *, task_id: uuid.UUID, attempt: int) -> ProgressReporter:
        """The reporter of attempt `attempt` of the task."""

        async def write(report: ProgressReport) -> bool:
            async with self._database.connection() as connection:
                return await set_progress(
                    connection=connection,
                    task_id=task_id,
                    attempt=attempt,
                    fraction=report.fraction,
                    message=report.message,
                )

        return ProgressReporter(write, min_interval=self._min_interval, task=str(task_id))
