"""What a worker does when something fails: every answer in one place.

- The handler raised, or ran past its timeout: the executor records the attempt; it is
  retried after its backoff, or dead once out of attempts (subscribers/execution.py).
- A message whose signature does not verify (not published by Taskgate, or altered): it
  changes no task; it is dead-lettered as unverified, with the reason, and acked
  (`FailurePolicy`; the dead-letter subscriber records such messages apart from any task).
- A message cannot be decoded, or breaks the contract: dead-lettered with the reason and
  acked; the worker goes on (`FailurePolicy`).
- PostgreSQL cannot be reached: pause, then hand the message back to its queue; work is
  never dead-lettered for an outage (`OutagePolicy`, around every subscriber).
- A retry's delayed message cannot be published: left to the outbox relay, the task row
  says when it is due (`forward`).
- A dead task's dead-letter message cannot be published: the message is rejected and
  RabbitMQ dead-letters it; inside a batch message, the task row (which the API reads)
  says dead already (`forward`).
- A message keeps killing workers: RabbitMQ dead-letters it after the delivery limit (the
  work queues' arguments, publishers/topology.py).
- A task's message never arrives: the outbox relay sends it again (services/relay.py).
"""

import asyncio
import json
import logging
from typing import Any
from uuid import UUID

from faststream import BaseMiddleware
from faststream.exceptions import HandlerException, NackMessage, RejectMessage
from faststream.message import StreamMessage
from pydantic import ValidationError

from db.failures import database_unavailable
from publishers.messages import TaskMessage
from publishers.publishing import Publishers
from subscribers.execution import Outcome, Verdict
from subscribers.runtime import CONTEXT_KEY, WorkerRuntime

logger = logging.getLogger(__name__)

# The pause keeps an outage from being spun through in redeliveries.
DATABASE_DOWN_PAUSE_SECONDS = 2.0


class OutagePolicy(BaseMiddleware):
    """A database outage hands the message back after a pause: never drop or dead-letter
    work for an outage. Around the dead-letter subscriber, which must never send what it
    cannot handle back to the dead-letter queue it came from."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        try:
            return await call_next(msg)
        except HandlerException:
            # A subscriber's own verdict on the message (ack, nack, reject) stands.
            raise
        except Exception as error:
            if not database_unavailable(error):
                raise
            logger.warning("database unavailable; the message goes back to its queue: %s", error)
            await asyncio.sleep(DATABASE_DOWN_PAUSE_SECONDS)
            raise NackMessage(requeue=True) from error


class FailurePolicy(OutagePolicy):
    """Around the work and cancel subscribers: a message that is unsigned, or unreadable,
    is dead-lettered with the reason and acked; outages as `OutagePolicy`."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        worker: WorkerRuntime = self.context.get(CONTEXT_KEY)
        if not worker.publishers.signer.verify(msg.body, msg.headers):
            reason = (
                "unverified message: no valid Taskgate signature, so it changed no task "
                f"(it came from {_origin(msg)})"
            )
            logger.warning("dead-lettering an unverified message: %s", reason)
            await worker.publishers.publish_dead_letter(
                msg.body, reason=reason, task_id=None, unverified=True
            )
            return None
        try:
            return await super().consume_scope(call_next, msg)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            reason = f"message body is not valid JSON: {error}"
        except ValidationError as error:
            reason = f"message does not match the task contract: {describe_errors(error)}"
        logger.warning("dead-lettering an unreadable message: %s", reason)
        await worker.publishers.publish_dead_letter(
            msg.body, reason=reason, task_id=task_id_in(msg.body)
        )
        return None


def _origin(msg: StreamMessage[Any]) -> str:
    raw = getattr(msg, "raw_message", None)
    exchange = getattr(raw, "exchange", None) or "?"
    routing_key = getattr(raw, "routing_key", None) or "?"
    return f"exchange {exchange!r}, routing key {routing_key!r}"


async def forward(
    publishers: Publishers, task: TaskMessage, outcome: Outcome, *, alone: bool
) -> None:
    """Send the task where the outcome says it goes next (`alone`: its message carries only
    this task)."""
    if outcome.verdict is Verdict.RETRY_LATER:
        try:
            await publishers.publish_later(task, delay_seconds=outcome.delay_seconds)
        except Exception:
            logger.warning("could not schedule task %s; the relay will", task.id, exc_info=True)
    elif outcome.verdict is Verdict.DEAD:
        try:
            await publishers.publish_dead_letter(
                task.model_dump(mode="json"),
                reason=outcome.reason or "failed",
                task_id=str(task.id),
                recorded=outcome.recorded,
            )
        except Exception as error:
            if alone:
                raise RejectMessage() from error
            logger.warning(
                "task %s is dead; its dead-letter message was not sent: %s", task.id, error
            )


def describe_errors(error: ValidationError) -> str:
    """`field: problem` for each validation error, on one line."""
    parts = []
    for item in error.errors(include_url=False):
        # FastStream reports the handler's argument name first; the field path follows it.
        location = ".".join(str(part) for part in item["loc"][1:]) or "body"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def task_id_in(body: bytes) -> str | None:
    """The task id a malformed message still carries, if it carries a valid one."""
    try:
        data = json.loads(body)
        return str(UUID(str(data["id"])))
    except (ValueError, TypeError, KeyError):
        return None
