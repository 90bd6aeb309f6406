"""What the metrics endpoint reads of the tasks table when it is scraped: the outbox's
backlog. One statement through the partial index of unpublished tasks."""

from dataclasses import dataclass
from typing import Any

UNPUBLISHED = """
    SELECT count(*) AS tasks, extract(epoch FROM now() - min(created_at)) AS oldest
    FROM tasks
    WHERE published_at IS NULL AND status = 'queued'
"""


@dataclass(frozen=True)
class Backlog:
    """Queued tasks whose message the broker has not been seen to confirm (the API marks a
    confirmed publish a moment later, a worker's claim at once; the relay sends the rest),
    and how long the oldest of them has waited (None: there is none)."""

    tasks: int
    oldest_seconds: float | None


async def outbox_backlog(*, connection: Any) -> Backlog:
    """The outbox's backlog now (on an asyncpg connection)."""
    row = await connection.fetchrow(UNPUBLISHED)
    oldest = None if row["oldest"] is None else float(row["oldest"])
    return Backlog(tasks=int(row["tasks"]), oldest_seconds=oldest)
