"""Pausing and resuming a named queue from the overview (an admin key; the key's own
tenant), as PATCH /api/v1/queues/{name} does."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import RuntimeDep, SessionDep
from app.dashboard.errors import HtmlRoute
from app.dashboard.rendering import BASE, redirect
from app.dashboard.security import Acting
from db.models import Role
from services.queue_controls import change_queue_controls

router = APIRouter(prefix=f"{BASE}/queues", route_class=HtmlRoute, include_in_schema=False)


async def _set_paused(
    request: Request,
    name: str,
    paused: bool,
    session: SessionDep,
    runtime: RuntimeDep,
    acting: Acting,
) -> Response:
    viewer, _form = acting
    viewer.principal.require(Role.ADMIN, doing="pausing and resuming queues")
    await change_queue_controls(
        session=session,
        tenant=viewer.principal.tenant,
        queue=name,
        known=runtime.queues,
        changes={"paused": paused},
    )
    return redirect(request, f"{BASE}#queue-{name}", viewer)


@router.post("/{name}/pause")
async def pause(
    request: Request, name: str, session: SessionDep, runtime: RuntimeDep, acting: Acting
) -> Response:
    """Pause the queue: its new tasks wait, held, until it is resumed."""
    return await _set_paused(request, name, True, session, runtime, acting)


@router.post("/{name}/resume")
async def resume(
    request: Request, name: str, session: SessionDep, runtime: RuntimeDep, acting: Acting
) -> Response:
    """Resume the queue: its held tasks start."""
    return await _set_paused(request, name, False, session, runtime, acting)
