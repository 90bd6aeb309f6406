"""Dead tasks for the dead-letter tests: made through the API, changed behind it with SQL."""

from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import text

from tests.support.api import TASK_TIMEOUT, submit_many, wait_all_terminal
from tests.support.database import new_session

DEAD_LETTER = "/api/v1/dead-letter/"
# Dies after two attempts with its note in the error, unless its payload says ok.
DYING = "fail_unless_ok"


async def make_dead(client: httpx.AsyncClient, notes: Sequence[str]) -> list[dict[str, Any]]:
    """One DYING task per note, each run until it died; in the order of the notes."""
    submitted = await submit_many(client, [(DYING, {"note": note}) for note in notes])
    finished = await wait_all_terminal(
        client, [task["id"] for task in submitted], timeout=TASK_TIMEOUT
    )
    tasks = [finished[task["id"]] for task in submitted]
    assert [task["status"] for task in tasks] == ["dead"] * len(tasks), tasks
    return tasks


async def execute_sql(statement: str, **params: Any) -> None:
    """Change the task table behind the API's back (what the API cannot do, on purpose)."""
    async with new_session() as session:
        await session.execute(text(statement), params)
        await session.commit()
