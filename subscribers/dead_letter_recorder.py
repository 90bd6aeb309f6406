"""The dead-letter subscriber: records every dead-lettered message in PostgreSQL.

RabbitMQ queues cannot be browsed, so the dead-letter queue is drained into the task
table, where the API lists, inspects and replays it. A database outage hands the message
back (subscribers/failure_policy.py): dropping it would lose the only copy.

Only a message that carries a valid signature may change a task. One that does not (a
forgery, or a message a worker already found unverified) is recorded as a dead letter of
its own, under a new id and no tenant (operators see it), and touches no task.
"""

import json
from typing import Any
from uuid import UUID

from faststream.rabbit.annotations import RabbitMessage

from config import names
from services.dead_letters import record_dead_letter
from services.payloads import make_storable
from subscribers.runtime import WorkerDep, WorkerRuntime

RAW_BODY_LIMIT = 4000


async def record_dead_letter_message(message: RabbitMessage, worker: WorkerDep) -> None:
    """Mark the message's task dead with the reason, or keep the unreadable message."""
    headers = message.headers
    if not worker.publishers.signer.verify(message.body, headers):
        reason = "unverified dead letter: no valid Taskgate signature, so it changed no task"
        await _record_untrusted(worker, message.body, reason)
        return
    if headers.get(names.HEADER_UNVERIFIED):
        await _record_untrusted(worker, message.body, _reason(headers))
        return
    if headers.get(names.HEADER_DEATH_RECORDED):
        # The worker marked the task dead before sending this. Marking it again could undo
        # a replay, or bring back a purge, that came in between.
        return
    header_id = headers.get(names.HEADER_TASK_ID)
    for task_id, name, payload in _tasks_in(message.body):
        if task_id is None and header_id:
            task_id = UUID(str(header_id))
        async with worker.database.session() as session:
            # Recorded as it came, less what PostgreSQL cannot hold (a NUL, say).
            await record_dead_letter(
                session=session,
                task_id=task_id,
                name=make_storable(name),
                payload=make_storable(payload),
                reason=make_storable(_reason(headers)),
            )


async def _record_untrusted(worker: WorkerRuntime, body: bytes, reason: str) -> None:
    """Keep a message that may name any task, as a record of its own that changes none."""
    async with worker.database.session() as session:
        await record_dead_letter(
            session=session,
            task_id=None,
            name="",
            payload={"raw": _raw_text(body)},
            reason=make_storable(reason),
        )


def _raw_text(body: bytes) -> str:
    text: str = make_storable(body[:RAW_BODY_LIMIT].decode("utf-8", errors="replace"))
    return text


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
        return [(None, "", {"raw": _raw_text(body)})]


def _reason(headers: dict[str, Any]) -> str:
    reason = headers.get(names.HEADER_DEAD_REASON)
    if reason:
        return str(reason)
    deaths = headers.get(names.HEADER_X_DEATH) or [{}]
    death = deaths[0]
    return (
        f"dead-lettered by RabbitMQ from queue {death.get('queue', '?')}: "
        f"{death.get('reason', 'unknown reason')}"
    )
