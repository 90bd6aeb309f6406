"""Handlers the reliability tests run, loaded through TASKGATE_HANDLERS.

`count` writes one row per completed run in the same transaction as the task's success
(the handler-side counter: two rows for one task would mean it completed twice), and one
row per start in a transaction of its own (starts may repeat after a crash, completions
may not). `flaky` fails its first `failures` attempts. `fail_unless_ok` fails unless its
payload says ok (a dead one can be replayed to success).
"""

import asyncio
import os
import time

from pydantic import BaseModel, Field
from sqlalchemy import text

from services.handlers import Backoff, TaskContext, task_handler

COUNTER_TABLES = """
CREATE TABLE IF NOT EXISTS test_task_starts (task_id uuid NOT NULL, attempt int NOT NULL);
CREATE TABLE IF NOT EXISTS test_task_completions (task_id uuid NOT NULL, attempt int NOT NULL);
"""


class CountPayload(BaseModel):
    seconds: float = Field(default=0.0, ge=0, le=10)


class FlakyPayload(BaseModel):
    failures: int = Field(default=2, ge=0)


@task_handler("count", max_attempts=10, backoff=Backoff(base=0.2, maximum=1.0))
async def count(payload: CountPayload, context: TaskContext) -> dict[str, int]:
    """Record the start, wait, then record the completion with the task's outcome."""
    row = {"task_id": context.task_id, "attempt": context.attempt}
    async with context.own_session() as own:
        await own.execute(text("INSERT INTO test_task_starts VALUES (:task_id, :attempt)"), row)
        await own.commit()
    if payload.seconds:
        await asyncio.sleep(payload.seconds)
    await context.session.execute(
        text("INSERT INTO test_task_completions VALUES (:task_id, :attempt)"), row
    )
    return {"attempt": context.attempt, "pid": os.getpid()}


class FlakyError(Exception):
    pass


@task_handler("flaky", max_attempts=3, backoff=Backoff(base=0.5, factor=2.0, jitter=0.0))
async def flaky(payload: FlakyPayload, context: TaskContext) -> dict[str, int]:
    """Fail the first `failures` attempts, then succeed."""
    if context.attempt <= payload.failures:
        raise FlakyError(f"failing on purpose, attempt {context.attempt}")
    return {"succeeded_on": context.attempt}


class HangPayload(BaseModel):
    seconds: float = Field(default=5.0, ge=0, le=10)


@task_handler("hang", max_attempts=1, timeout_seconds=0.5)
async def hang(payload: HangPayload) -> None:
    """Sleep past its own half-second timeout."""
    await asyncio.sleep(payload.seconds)


@task_handler("hang_sync", max_attempts=1, timeout_seconds=0.5)
def hang_sync(payload: HangPayload) -> None:
    """A sync handler sleeping past its timeout (it cannot be interrupted)."""
    time.sleep(payload.seconds)


class NapPayload(BaseModel):
    seconds: float = Field(default=0.0, ge=0, le=60)


@task_handler("report", queue="reports", max_attempts=1)
async def report(payload: NapPayload) -> dict[str, int]:
    """A task of the `reports` queue; says which process ran it."""
    await asyncio.sleep(payload.seconds)
    return {"pid": os.getpid()}


@task_handler("ordered", queue="ordering", max_attempts=1)
async def ordered(payload: NapPayload) -> None:
    """A task of the `ordering` queue, for the priority tests."""
    await asyncio.sleep(payload.seconds)


@task_handler("nap", max_attempts=1, timeout_seconds=120)
async def nap(payload: NapPayload) -> dict[str, int]:
    """Sleep (cancellable at any await); says which process ran it."""
    await asyncio.sleep(payload.seconds)
    return {"pid": os.getpid()}


@task_handler("nap_sync", max_attempts=1, timeout_seconds=120)
def nap_sync(payload: NapPayload) -> None:
    """Sleep in a thread: a sync handler cannot be interrupted."""
    time.sleep(payload.seconds)


class OkPayload(BaseModel):
    ok: bool = False
    note: str = Field(default="", max_length=200)
    seconds: float = Field(default=0.0, ge=0, le=10)


class NotOkError(Exception):
    pass


@task_handler("fail_unless_ok", max_attempts=2, backoff=Backoff(base=0.1, jitter=0.0))
async def fail_unless_ok(payload: OkPayload) -> dict[str, str]:
    """Wait `seconds`, then fail with the note in the error unless the payload says ok: a task
    that died of it succeeds once replayed with `"ok": true`."""
    if payload.seconds:
        await asyncio.sleep(payload.seconds)
    if not payload.ok:
        raise NotOkError(f"not ok: {payload.note}")
    return {"note": payload.note}


class ProgressPayload(BaseModel):
    fraction: float = Field(default=0.5, ge=0, le=1)
    message: str = Field(default="", max_length=300)
    seconds: float = Field(default=10.0, ge=0, le=60)


@task_handler("report_progress", max_attempts=1, timeout_seconds=120)
async def report_progress(payload: ProgressPayload, context: TaskContext) -> None:
    """Report the payload's progress, then sleep `seconds` (cancel it to end it sooner)."""
    await context.progress(payload.fraction, message=payload.message or None)
    await asyncio.sleep(payload.seconds)


class BurstPayload(BaseModel):
    reports: int = Field(default=1000, ge=10, le=100_000)
    seconds: float = Field(default=0.5, ge=0, le=10)


@task_handler("progress_burst", max_attempts=1)
async def progress_burst(payload: BurstPayload, context: TaskContext) -> None:
    """Report progress `reports` times over about `seconds` (in ten rounds), ending at 1."""
    per_round = payload.reports // 10
    for index in range(1, payload.reports + 1):
        await context.progress(index / payload.reports, f"step {index} of {payload.reports}")
        if index % per_round == 0:
            await asyncio.sleep(payload.seconds / 10)
