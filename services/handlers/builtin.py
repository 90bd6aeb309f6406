"""The handlers Taskgate ships with: error emulation, echo, sleep and fail."""

import asyncio
import math
import random
from typing import Any

from pydantic import BaseModel, Field

from services.handlers.context import TaskContext
from services.handlers.registry import task_handler


class TaskFailedError(Exception):
    """Raised by the `fail` handler, on purpose."""


class EmulatePayload(BaseModel):
    failure_rate: float = Field(
        default=0.2, ge=0, le=1, description="Chance (0..1) that the task fails."
    )


class SleepPayload(BaseModel):
    seconds: float = Field(default=1.0, ge=0, le=60, description="How long to sleep (0..60 s).")


class FailPayload(BaseModel):
    message: str = Field(default="failed on purpose", description="The error the task ends with.")


# The original behaviour: one attempt, a failure goes straight to the dead-letter queue.
@task_handler("emulate", max_attempts=1)
async def emulate(payload: EmulatePayload) -> dict[str, Any]:
    """Draw 1..100 and fail above the threshold (80 at the default rate of 0.2)."""
    draw = random.randint(1, 100)
    threshold = round(100 * (1 - payload.failure_rate))
    if draw > threshold:
        raise TaskFailedError(f"emulated failure: drew {draw}, above {threshold}")
    return {"draw": draw, "threshold": threshold}


@task_handler("echo")
async def echo(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the payload as the result."""
    return payload


@task_handler("sleep")
async def sleep(payload: SleepPayload, context: TaskContext) -> dict[str, Any]:
    """Sleep for the given seconds, reporting progress every second, then succeed."""
    total = payload.seconds
    loop = asyncio.get_running_loop()
    started = loop.time()
    slept = 0.0
    while slept < total:
        await context.progress(slept / total, message=f"slept {slept:g} of {total:g} s")
        # Aimed at whole seconds from the start: a late wake-up does not delay the next.
        slept = min(float(math.floor(loop.time() - started) + 1), total)
        await asyncio.sleep(started + slept - loop.time())
    if total:
        await context.progress(1.0, message=f"slept {total:g} of {total:g} s")
    return {"slept": payload.seconds}


@task_handler("fail")
async def fail(payload: FailPayload) -> None:
    """Always fail, with the payload's message."""
    raise TaskFailedError(payload.message)
