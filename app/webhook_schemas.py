"""HTTP request and response bodies of the webhooks' endpoints."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, Strict

from app.schemas import STRICT_BODY, Text
from db.models import DeliveryStatus, WebhookEvent
from services.webhooks.registry import Delivery
from services.webhooks.targets import MAX_URL_CHARS

# Strict mode wants an Enum member: the JSON string is the value, checked as usual.
EventName = Annotated[WebhookEvent, Strict(False)]


class WebhookCreate(BaseModel):
    """A new webhook: where to POST, and which task events."""

    model_config = ConfigDict(
        **STRICT_BODY,
        json_schema_extra={
            "examples": [
                {"url": "https://example.com/taskgate", "events": ["task.succeeded", "task.dead"]}
            ]
        },
    )

    url: Text = Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="An http:// or https:// URL; its host must be, and resolve only to, public "
        "addresses unless the server sets WEBHOOK_ALLOW_PRIVATE=true.",
    )
    events: list[EventName] = Field(
        min_length=1,
        max_length=10,
        description="The events to POST: task.succeeded, task.dead, task.cancelled (a task "
        "reaching that state).",
    )


class WebhookOut(BaseModel):
    """A webhook, without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    tenant: str = Field(description="Its tasks' events are the ones it is told of.")
    url: str
    events: list[WebhookEvent]
    created_at: datetime


class WebhookCreated(WebhookOut):
    """A webhook just made: `secret` signs its deliveries, shown this once and never again."""

    secret: str = Field(
        description="The key of each delivery's Taskgate-Signature: `t=<unix seconds>,v1=<hex "
        'HMAC-SHA256 of "<t>.<raw body>">`.'
    )


class DeliveryAttemptOut(BaseModel):
    """One try at a delivery."""

    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    status_code: int | None = Field(
        description="The receiver's answer; null: none (refused, unreachable, timed out)."
    )
    latency_ms: float | None = Field(description="From sending to the answer's headers.")
    error: str | None = Field(description="Why it failed; null: delivered.")


class DeliveryOut(BaseModel):
    """One event's delivery to the webhook, and every attempt at it, oldest first."""

    id: UUID
    webhook_id: UUID
    event: WebhookEvent
    event_id: UUID = Field(description="Sent as Taskgate-Event-Id: the same on every retry.")
    task_id: UUID
    status: DeliveryStatus = Field(
        description="pending (not tried yet), failing (tried, to be tried again), delivered "
        "(a 2xx answer), given_up (failed for 26 hours)."
    )
    attempts: int = Field(description="Attempts started.")
    occurred_at: datetime = Field(description="When the task changed state.")
    next_attempt_at: datetime | None = Field(description="Null once delivered or given up.")
    delivered_at: datetime | None
    attempt_log: list[DeliveryAttemptOut]

    @classmethod
    def of(cls, delivery: Delivery) -> "DeliveryOut":
        record = delivery.record
        return cls(
            id=record.id,
            webhook_id=record.webhook_id,
            event=WebhookEvent(record.event),
            event_id=record.event_id,
            task_id=record.task_id,
            status=DeliveryStatus(record.status),
            attempts=record.attempts,
            occurred_at=record.occurred_at,
            next_attempt_at=record.next_attempt_at,
            delivered_at=record.delivered_at,
            attempt_log=[DeliveryAttemptOut.model_validate(item) for item in delivery.attempts],
        )
