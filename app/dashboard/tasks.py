"""Recent tasks (the API listing's filters and pages), one task in detail, and cancelling."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.api.deps import PublishersDep, SessionDep
from app.dashboard.errors import HtmlRoute
from app.dashboard.forms import TaskFilters, parse
from app.dashboard.rendering import BASE, redirect, render
from app.dashboard.security import Acting, Viewer, ViewerDep, settings_of
from app.dashboard.views import notice_text, page_view, task_view
from db.models import Role, TaskStatus
from services.access import visible_tenants
from services.cancellation import cancel_task
from services.handlers.registry import registry
from services.task_views import get_task, list_tasks

router = APIRouter(prefix=BASE, route_class=HtmlRoute, include_in_schema=False)


def choices(request: Request) -> dict[str, Any]:
    """What the filter forms offer: every status, handler and known queue."""
    return {
        "statuses": [status.value for status in TaskStatus],
        "handlers": registry.names(),
        "queues": request.app.state.runtime.queues,
    }


@router.get("/tasks")
async def tasks_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    """Tasks newest first, filtered as the API's listing is, one page at a time."""
    filters = parse(TaskFilters, request.query_params)
    tenants = await visible_tenants(
        session=session, principal=viewer.principal, asked=filters.tenant
    )
    page = await list_tasks(
        session=session,
        tenants=tenants,
        limit=filters.limit,
        cursor=filters.position(),
        statuses=filters.status,
        names=filters.name,
        queues=filters.queue,
        created_after=filters.created_after,
        created_before=filters.created_before,
    )
    return render(
        request,
        "tasks.html",
        viewer=viewer,
        title="Tasks",
        filters=filters,
        page=page_view(page, viewer.principal, path=f"{BASE}/tasks", filters=filters),
        notice=notice_text(dict(request.query_params)),
        **choices(request),
    )


async def task_page(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    task_id: UUID,
    *,
    status_code: int = 200,
    errors: list[str] | None = None,
    payload_text: str | None = None,
) -> Response:
    """One task's page; after a refused replay, with what was wrong and the text sent."""
    task = await get_task(session=session, task_id=task_id, tenant=viewer.principal.scope)
    view = task_view(task, viewer.principal)
    return render(
        request,
        "task.html",
        viewer=viewer,
        status_code=status_code,
        title=f"Task {task.id}",
        view=view,
        errors=errors or [],
        payload_text=payload_text,
        notice=notice_text(dict(request.query_params)),
        refresh_seconds=settings_of(request).dashboard_refresh_seconds,
    )


@router.get("/tasks/{task_id}")
async def task_detail(
    request: Request, task_id: UUID, session: SessionDep, viewer: ViewerDep
) -> Response:
    """One task: payload, result or error, traceback (its own tenant's), attempts."""
    return await task_page(request, session, viewer, task_id)


@router.post("/tasks/{task_id}/cancel")
async def cancel(
    request: Request,
    task_id: UUID,
    session: SessionDep,
    publishers: PublishersDep,
    acting: Acting,
) -> Response:
    """Cancel the task (a write key); back to its page, saying what happened."""
    viewer, _ = acting
    viewer.principal.require(Role.WRITE, doing="cancelling tasks")
    cancellation = await cancel_task(
        session=session, publishers=publishers, task_id=task_id, tenant=viewer.principal.scope
    )
    notice = "cancelled" if cancellation.done else "cancel-requested"
    return redirect(request, f"{BASE}/tasks/{task_id}?notice={notice}", viewer)
