"""Reading tasks' results."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from app.api.deps import CursorDep, LimitDep, RuntimeDep, SessionDep
from app.api.responses import AUTH, NOT_FOUND
from app.auth import Reader
from app.schemas import FilterText, Moment, PageOut, TaskOut, TenantFilter, page_out
from app.waiting import MAX_WAIT_SECONDS, wait_for_task
from db.models import TaskStatus
from services.access import visible_tenants
from services.task_views import get_task, list_tasks

router = APIRouter(prefix="/result", tags=["result"])

# Values one repeatable filter may list.
MAX_FILTER_VALUES = 20


@router.get("/", response_model=PageOut[TaskOut], responses=AUTH)
async def list_results(
    session: SessionDep,
    cursor: CursorDep,
    principal: Reader,
    tenant: TenantFilter = None,
    status: Annotated[
        list[TaskStatus] | None,
        Query(max_length=MAX_FILTER_VALUES, description="Only tasks in these states (repeatable)."),
    ] = None,
    name: Annotated[
        list[FilterText] | None,
        Query(
            max_length=MAX_FILTER_VALUES, description="Only tasks of these handlers (repeatable)."
        ),
    ] = None,
    queue: Annotated[
        list[FilterText] | None,
        Query(max_length=MAX_FILTER_VALUES, description="Only tasks in these queues (repeatable)."),
    ] = None,
    created_after: Annotated[
        Moment | None,
        Query(description="Only tasks created at or after this time (ISO 8601 with a zone)."),
    ] = None,
    created_before: Annotated[
        Moment | None,
        Query(description="Only tasks created before this time (ISO 8601 with a zone)."),
    ] = None,
    schedule_id: Annotated[UUID | None, Query(description="Only tasks this schedule made.")] = None,
    limit: LimitDep = 100,
) -> PageOut[TaskOut]:
    """List tasks and their results, newest first; filters combine (all must hold)."""
    page = await list_tasks(
        session=session,
        tenants=await visible_tenants(session=session, principal=principal, asked=tenant or ()),
        limit=limit,
        cursor=cursor,
        statuses=status or (),
        names=name or (),
        queues=queue or (),
        created_after=created_after,
        created_before=created_before,
        schedule_id=schedule_id,
    )
    return page_out(page, TaskOut)


@router.get("/{result_uuid}", response_model=TaskOut, responses={**AUTH, **NOT_FOUND})
async def get_result(
    task_id: Annotated[UUID, Path(alias="result_uuid")],
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Reader,
    wait: Annotated[
        float | None,
        Query(
            gt=0,
            le=MAX_WAIT_SECONDS,
            description=(
                "Seconds (up to 60) to wait for the task to finish before answering with it "
                "as it is then; it answers at once when the task is finished."
            ),
        ),
    ] = None,
) -> TaskOut:
    """One task: its state, its result or its error; `wait` long-polls for its end."""
    if wait is None:
        task = await get_task(session=session, task_id=task_id, tenant=principal.scope)
    else:
        task = await wait_for_task(
            session=session,
            waiter=runtime.waiter,
            task_id=task_id,
            tenant=principal.scope,
            seconds=wait,
        )
    return TaskOut.model_validate(task)
