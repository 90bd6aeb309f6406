"""Poison messages: a body no worker can read goes to the dead-letter queue with the reason.

A subscriber middleware, because FastStream decodes and validates the body before the
handler is called; the worker acks the message once it is dead-lettered and keeps consuming.
"""

import json
import logging
from typing import Any
from uuid import UUID

from faststream import BaseMiddleware
from faststream.message import StreamMessage
from pydantic import ValidationError

from publishers.tasks import publish_dead_letter

logger = logging.getLogger(__name__)


class PoisonMessageMiddleware(BaseMiddleware):
    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        try:
            return await call_next(msg)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            reason = f"message body is not valid JSON: {error}"
        except ValidationError as error:
            reason = f"message does not match the task contract: {describe_errors(error)}"
        logger.warning("dead-lettering an unreadable message: %s", reason)
        await publish_dead_letter(msg.body, reason=reason, task_id=task_id_in(msg.body))
        return None


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
