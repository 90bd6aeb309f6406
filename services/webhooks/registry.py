"""Making, listing and deleting a tenant's webhooks, and reading their deliveries."""

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from config.names import MAX_WEBHOOKS_PER_TENANT
from db import webhooks
from db.models import Webhook, WebhookDelivery, WebhookDeliveryAttempt, WebhookEvent
from db.tasks.reads import Cursor, Page
from services.errors import InvalidFieldError, TooManyWebhooksError, WebhookNotFoundError
from services.webhooks.signing import new_secret
from services.webhooks.targets import TargetError, allowed_addresses, parse_url


@dataclass(frozen=True)
class NewWebhook:
    """A webhook just made: its record, and its secret (shown this once, never again)."""

    record: Webhook
    secret: str


@dataclass(frozen=True)
class Delivery:
    """One event's delivery to a webhook, and every attempt at it, oldest first."""

    record: WebhookDelivery
    attempts: list[WebhookDeliveryAttempt]


async def create_webhook(
    *,
    session: AsyncSession,
    tenant: str,
    url: str,
    events: Collection[WebhookEvent],
    allow_private: bool,
) -> NewWebhook:
    """Make a webhook for `tenant`, committed. InvalidFieldError if its URL may not be sent
    to (not http(s), no host, or an address refused unless `allow_private`);
    TooManyWebhooksError if the tenant has as many as it may."""
    try:
        await allowed_addresses(parse_url(url), allow_private=allow_private)
    except TargetError as error:
        raise InvalidFieldError(["url"], str(error)) from None
    if not events:
        raise InvalidFieldError(["events"], "name at least one event")
    if await webhooks.count_webhooks_locked(session=session, tenant=tenant) >= (
        MAX_WEBHOOKS_PER_TENANT
    ):
        await session.rollback()
        raise TooManyWebhooksError(MAX_WEBHOOKS_PER_TENANT)
    secret = new_secret()
    record = await webhooks.insert_webhook(
        session=session,
        webhook_id=uuid.uuid4(),
        tenant=tenant,
        url=url,
        events=[event.value for event in WebhookEvent if event in events],
        secret=secret,
    )
    await session.commit()
    return NewWebhook(record=record, secret=secret)


async def list_webhooks(*, session: AsyncSession, tenant: str | None) -> list[Webhook]:
    """The webhooks of `tenant` (None: of every tenant), newest first."""
    return await webhooks.list_webhooks(session=session, tenant=tenant)


async def delete_webhook(
    *, session: AsyncSession, webhook_id: uuid.UUID, tenant: str | None
) -> None:
    """Delete the webhook (of `tenant`, unless None), committed: its pending deliveries are
    not sent (one being sent now is not recorded). WebhookNotFoundError if there is none."""
    if not await webhooks.delete_webhook(session=session, webhook_id=webhook_id, tenant=tenant):
        await session.rollback()
        raise WebhookNotFoundError(webhook_id)
    await session.commit()


async def list_deliveries(
    *,
    session: AsyncSession,
    webhook_id: uuid.UUID,
    tenant: str | None,
    limit: int,
    cursor: Cursor | None = None,
) -> Page[Delivery]:
    """The webhook's deliveries (of `tenant`'s webhook, unless None), newest first, one
    page at a time, each with its attempts. WebhookNotFoundError if there is no webhook."""
    if await webhooks.get_webhook(session=session, webhook_id=webhook_id, tenant=tenant) is None:
        raise WebhookNotFoundError(webhook_id)
    page = await webhooks.page_of_deliveries(
        session=session, webhook_id=webhook_id, after=cursor, limit=limit
    )
    attempts = await webhooks.attempts_of(
        session=session, delivery_ids=[delivery.id for delivery in page.items]
    )
    return Page(
        items=[Delivery(record=item, attempts=attempts[item.id]) for item in page.items],
        next_cursor=page.next_cursor,
    )
