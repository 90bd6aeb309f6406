"""The task the benchmarks submit: it does nothing, so what is measured is the machinery."""

from typing import Any

from services.handlers import task_handler


# One attempt, as the baseline has: nothing to retry in a no-op.
@task_handler("noop", max_attempts=1)
async def noop(payload: dict[str, Any]) -> None:
    """Do nothing and succeed."""
