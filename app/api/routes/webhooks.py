"""Webhooks: a tenant's endpoints, told of its tasks' events by signed POSTs. Admin keys
make and delete them (each sends the tenant's task data to a URL outside); any key of the
tenant may list them and their deliveries."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, status

from app.api.deps import CursorDep, LimitDep, RuntimeDep, SessionDep
from app.api.responses import AUTH, Responses
from app.auth import Reader, require
from app.schemas import PageOut
from app.webhook_schemas import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut
from db.models import Role
from services.access import Principal
from services.pagination import encode_cursor
from services.webhooks import registry

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Manager = Annotated[Principal, require(Role.ADMIN, "making or deleting webhooks")]
NO_WEBHOOK: Responses = {404: {"description": "No such webhook (of this key's tenant)."}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses={**AUTH, 409: {"description": "The tenant has as many webhooks as it may."}},
)
async def create_webhook(
    body: WebhookCreate, session: SessionDep, runtime: RuntimeDep, principal: Manager
) -> WebhookCreated:
    """Make a webhook for this key's tenant; the answer holds its secret, shown this once."""
    made = await registry.create_webhook(
        session=session,
        tenant=principal.tenant,
        url=body.url,
        events=body.events,
        allow_private=runtime.settings.webhook_allow_private,
    )
    return WebhookCreated.model_validate(
        {**WebhookOut.model_validate(made.record).model_dump(), "secret": made.secret}
    )


@router.get("", response_model=list[WebhookOut], responses=AUTH)
async def list_webhooks(session: SessionDep, principal: Reader) -> list[WebhookOut]:
    """The webhooks of this key's tenant (an operator's: every tenant's), newest first."""
    found = await registry.list_webhooks(session=session, tenant=principal.scope)
    return [WebhookOut.model_validate(webhook) for webhook in found]


@router.delete(
    "/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**AUTH, **NO_WEBHOOK}
)
async def delete_webhook(webhook_id: UUID, session: SessionDep, principal: Manager) -> None:
    """Delete a webhook: its deliveries not yet made are never made."""
    await registry.delete_webhook(session=session, webhook_id=webhook_id, tenant=principal.scope)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=PageOut[DeliveryOut],
    responses={**AUTH, **NO_WEBHOOK},
)
async def list_deliveries(
    webhook_id: UUID,
    session: SessionDep,
    cursor: CursorDep,
    principal: Reader,
    limit: LimitDep = 100,
) -> PageOut[DeliveryOut]:
    """The webhook's deliveries, newest first: each one's status and every attempt."""
    page = await registry.list_deliveries(
        session=session, webhook_id=webhook_id, tenant=principal.scope, limit=limit, cursor=cursor
    )
    return PageOut[DeliveryOut](
        items=[DeliveryOut.of(delivery) for delivery in page.items],
        next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
    )
