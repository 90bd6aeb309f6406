"""Every statement on the webhooks, their deliveries and the deliveries' attempts. The
deliveries themselves are written by a trigger on the tasks table (migration 0011)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Text,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryAttempt,
)
from db.tasks.reads import Cursor, Page, newest_first, page_of

UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.FAILING)
FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.GIVEN_UP)
# Two webhooks made at once for one tenant are counted one after the other.
LOCK_TENANT = text("SELECT pg_advisory_xact_lock(hashtextextended('taskgate.webhooks:' || :t, 0))")


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed for one attempt (its `attempt`-th), and where it goes."""

    id: uuid.UUID
    event: str
    event_id: uuid.UUID
    task: dict[str, Any]
    occurred_at: datetime
    attempt: int
    url: str
    secret: str


async def count_webhooks_locked(*, session: AsyncSession, tenant: str) -> int:
    """How many webhooks the tenant has, holding its lock until the transaction ends."""
    await session.execute(LOCK_TENANT, {"t": tenant})
    count = await session.scalar(select(func.count()).where(Webhook.tenant == tenant))
    return int(count or 0)


async def insert_webhook(
    *,
    session: AsyncSession,
    webhook_id: uuid.UUID,
    tenant: str,
    url: str,
    events: Sequence[str],
    secret: str,
) -> Webhook:
    """Record a webhook (not committed)."""
    webhook = Webhook(id=webhook_id, tenant=tenant, url=url, events=list(events), secret=secret)
    session.add(webhook)
    await session.flush()
    await session.refresh(webhook, ["created_at"])
    return webhook


async def list_webhooks(*, session: AsyncSession, tenant: str | None) -> list[Webhook]:
    """The webhooks of a tenant (None: of every tenant), newest first."""
    query = select(Webhook).order_by(Webhook.created_at.desc(), Webhook.id)
    if tenant is not None:
        query = query.where(Webhook.tenant == tenant)
    return list(await session.scalars(query))


async def get_webhook(
    *, session: AsyncSession, webhook_id: uuid.UUID, tenant: str | None
) -> Webhook | None:
    """The webhook with this id, if there is one (of `tenant`, unless None)."""
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None or (tenant is not None and webhook.tenant != tenant):
        return None
    return webhook


async def delete_webhook(
    *, session: AsyncSession, webhook_id: uuid.UUID, tenant: str | None
) -> bool:
    """Delete the webhook (of `tenant`, unless None) with its deliveries, pending or not;
    False if there is no such webhook."""
    query = delete(Webhook).where(Webhook.id == webhook_id).returning(Webhook.id)
    if tenant is not None:
        query = query.where(Webhook.tenant == tenant)
    return (await session.execute(query)).one_or_none() is not None


async def page_of_deliveries(
    *, session: AsyncSession, webhook_id: uuid.UUID, after: Cursor | None, limit: int
) -> Page[WebhookDelivery]:
    """Up to `limit` deliveries of the webhook, newest first, from just after `after`."""
    query = newest_first(
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id),
        moment=WebhookDelivery.occurred_at,
        key=WebhookDelivery.id,
        after=after,
        size=limit + 1,
    )
    return page_of(list(await session.scalars(query)), limit, moment="occurred_at")


async def attempts_of(
    *, session: AsyncSession, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookDeliveryAttempt]]:
    """The attempts of each delivery, oldest first."""
    found: dict[uuid.UUID, list[WebhookDeliveryAttempt]] = {id_: [] for id_ in delivery_ids}
    rows = await session.scalars(
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookDeliveryAttempt.attempted_at, WebhookDeliveryAttempt.id)
    )
    for attempt in rows:
        found[attempt.delivery_id].append(attempt)
    return found


async def claim_due(*, session: AsyncSession, limit: int, lease: timedelta) -> list[DueDelivery]:
    """Take up to `limit` due deliveries, oldest due first, skipping those another process
    holds: each counts one more attempt and is not due again for `lease` (taken over after
    that, should this process die sending it). Not committed."""
    due = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status.in_(UNFINISHED), WebhookDelivery.next_attempt_at <= func.now()
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id.in_(due.scalar_subquery()), Webhook.id == WebhookDelivery.webhook_id
        )
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=func.now() + lease)
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.event,
            WebhookDelivery.event_id,
            WebhookDelivery.task,
            WebhookDelivery.occurred_at,
            WebhookDelivery.attempts.label("attempt"),
            Webhook.url,
            Webhook.secret,
        )
    )
    return [DueDelivery(**row._mapping) for row in rows]


async def record_attempt(
    *,
    session: AsyncSession,
    delivery_id: uuid.UUID,
    attempt: int,
    status_code: int | None,
    latency_ms: float | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    """Record an attempt at a delivery that still exists (not committed). No error: it is
    delivered. Else it fails again at `next_attempt_at` (None: it is given up), unless
    another attempt was started since (this one outlived its claim)."""
    await session.execute(
        insert(WebhookDeliveryAttempt).from_select(
            ["delivery_id", "status_code", "latency_ms", "error"],
            select(
                WebhookDelivery.id,
                literal(status_code, Integer()),
                literal(latency_ms, Float()),
                literal(error, Text()),
            ).where(WebhookDelivery.id == delivery_id),
        )
    )
    unfinished = (WebhookDelivery.id == delivery_id) & WebhookDelivery.status.in_(UNFINISHED)
    if error is None:
        changed = (
            update(WebhookDelivery)
            .where(unfinished)
            .values(status=DeliveryStatus.DELIVERED, delivered_at=func.now(), next_attempt_at=None)
        )
    else:
        changed = (
            update(WebhookDelivery)
            .where(unfinished, WebhookDelivery.attempts == attempt)
            .values(
                status=DeliveryStatus.FAILING
                if next_attempt_at is not None
                else DeliveryStatus.GIVEN_UP,
                next_attempt_at=next_attempt_at,
            )
        )
    await session.execute(changed)


async def delete_finished(*, session: AsyncSession, older_than: timedelta, limit: int) -> int:
    """Delete up to `limit` deliveries delivered or given up whose event is older than
    `older_than`, oldest first, skipping those another process holds (not committed); how
    many were deleted."""
    old = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status.in_(FINISHED),
            WebhookDelivery.occurred_at < func.now() - older_than,
        )
        .order_by(WebhookDelivery.occurred_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    deleted = await session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.id.in_(old.scalar_subquery()))
        .returning(WebhookDelivery.id)
    )
    return len(deleted.all())
