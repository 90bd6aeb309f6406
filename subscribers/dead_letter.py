"""The dead-letter subscriber: records every dead-lettered message in PostgreSQL.

RabbitMQ queues cannot be browsed, so the dead-letter queue is drained into the task
table, where the API lists, inspects and replays it.
"""

import json
from typing import Any
from uuid import UUID

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage

from app.services.dead_letters import record_dead_letter
from app.services.payloads import make_storable
from db.errors import database_unavailable
from db.session import SessionFactory
from publishers import constants
from publishers.topology import dead_letter_exchange, dead_letter_queue
from subscribers.outage import requeue_after_pause

router = RabbitRouter()

RAW_BODY_LIMIT = 4000


@router.subscriber(dead_letter_queue, dead_letter_exchange, title="record-dead-letter")
async def record_dead_letter_message(message: RabbitMessage) -> None:
    """Mark the message's task dead with the reason, or keep the unreadable message."""
    headers = message.headers
    if headers.get(constants.HEADER_DEATH_RECORDED):
        # The worker marked the task dead before sending this. Marking it again could undo
        # a replay, or bring back a purge, that came in between.
        return
    header_id = headers.get(constants.HEADER_TASK_ID)
    for task_id, name, payload in _tasks_in(message.body):
        if task_id is None and header_id:
            task_id = UUID(str(header_id))
        try:
            async with SessionFactory() as session:
                # Recorded as it came, less what PostgreSQL cannot hold (a NUL, say).
                await record_dead_letter(
                    session=session,
                    task_id=task_id,
                    name=make_storable(name),
                    payload=make_storable(payload),
                    reason=make_storable(_reason(headers)),
                )
        except Exception as error:
            if not database_unavailable(error):
                raise
            # Dropping it would lose the only copy: wait the outage out instead.
            await requeue_after_pause(error, what="a dead letter")


def _tasks_in(body: bytes) -> list[tuple[UUID | None, str, dict[str, Any]]]:
    """(id, name, payload) of each task a message carries (a batch carries several), or
    what can be kept of an unreadable one."""
    try:
        data = json.loads(body)
        items = data["tasks"] if isinstance(data, dict) and "tasks" in data else [data]
        return [
            (UUID(str(item["id"])), str(item.get("name", "")), dict(item.get("payload") or {}))
            for item in items
        ]
    except (ValueError, TypeError, KeyError, AttributeError):
        raw = body[:RAW_BODY_LIMIT].decode("utf-8", errors="replace")
        return [(None, "", {"raw": raw})]


def _reason(headers: dict[str, Any]) -> str:
    reason = headers.get(constants.HEADER_DEAD_REASON)
    if reason:
        return str(reason)
    deaths = headers.get(constants.HEADER_X_DEATH) or [{}]
    death = deaths[0]
    return (
        f"dead-lettered by RabbitMQ from queue {death.get('queue', '?')}: "
        f"{death.get('reason', 'unknown reason')}"
    )
