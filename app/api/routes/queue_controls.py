"""A named queue's controls: pause and resume, concurrency and rate limits."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.api.deps import RuntimeDep, SessionDep
from app.api.responses import AUTH, NOT_FOUND
from app.auth import Admin, Reader
from app.queue_control_schemas import QueueControlsOut, QueueControlsPatch
from app.schemas import TenantName
from config import names
from services.access import acting_tenant
from services.queue_controls import change_queue_controls, get_queue_controls

router = APIRouter(prefix="/queues", tags=["queue controls"])

QueueName = Annotated[str, Path(pattern=names.QUEUE_NAME_PATTERN, description="A named queue.")]
TenantParam = Annotated[
    TenantName | None,
    Query(description="An operator key's choice of tenant (default: the key's own)."),
]


@router.get("/{name}", response_model=QueueControlsOut, responses={**AUTH, **NOT_FOUND})
async def get_controls(
    name: QueueName,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Reader,
    tenant: TenantParam = None,
) -> QueueControlsOut:
    """A queue's controls, and the tasks it runs, has waiting and holds back."""
    controls = await get_queue_controls(
        session=session, tenant=acting_tenant(principal, tenant), queue=name, known=runtime.queues
    )
    return QueueControlsOut.of(controls)


@router.patch("/{name}", response_model=QueueControlsOut, responses={**AUTH, **NOT_FOUND})
async def change_controls(
    name: QueueName,
    body: QueueControlsPatch,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Admin,
    tenant: TenantParam = None,
) -> QueueControlsOut:
    """Pause or resume a queue, or set its limits; every worker obeys at its next claim."""
    controls = await change_queue_controls(
        session=session,
        tenant=acting_tenant(principal, tenant),
        queue=name,
        known=runtime.queues,
        changes=body.changes(),
    )
    return QueueControlsOut.of(controls)
