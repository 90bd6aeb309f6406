"""Reading tasks' results."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from app.api.deps import CursorDep, LimitDep, SessionDep
from app.schemas import PageOut, TaskOut, page_out
from app.services.tasks import get_task, list_tasks
from db.models import TaskStatus

router = APIRouter(prefix="/result", tags=["result"])


@router.get("/", response_model=PageOut[TaskOut])
async def list_results(
    session: SessionDep,
    cursor: CursorDep,
    status: Annotated[
        list[TaskStatus] | None, Query(description="Only tasks in these states (repeatable).")
    ] = None,
    limit: LimitDep = 100,
) -> PageOut[TaskOut]:
    """List tasks and their results, newest first."""
    page = await list_tasks(session=session, statuses=status or (), limit=limit, cursor=cursor)
    return page_out(page, TaskOut)


@router.get("/{result_uuid}", response_model=TaskOut)
async def get_result(result_uuid: UUID, session: SessionDep) -> TaskOut:
    """One task: its state, its result or its error."""
    return TaskOut.model_validate(await get_task(session=session, task_id=result_uuid))
