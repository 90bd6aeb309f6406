"""The dead-letter queue, as recorded in PostgreSQL: list, inspect, replay, purge."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, status

from app.api.deps import CursorDep, LimitDep, RuntimeDep, SessionDep
from app.api.responses import AUTH, NOT_FOUND
from app.auth import Admin, Reader, Writer
from app.schemas import (
    MAX_LISTED_IDS,
    BulkReplay,
    BulkReplayOut,
    DeadLetterFilters,
    DeadLetterSelection,
    DeadTaskOut,
    PageOut,
    PurgeOut,
    ReplayRequest,
    TaskOut,
    page_out,
)
from db.models import Task
from services import dead_letters, purge, replay
from services.access import Principal, selected_tenants, visible_tenants

router = APIRouter(prefix="/dead-letter", tags=["dead-letter"])

# The answers of the routes that act on one dead task, besides their own.
ONE_DEAD_TASK: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"description": "The task is not dead; `status` says what it is."},
    **AUTH,
}


def _dead_task_out(task: Task, principal: Principal) -> DeadTaskOut:
    """A dead task as this principal sees it: tracebacks go to the task's own tenant only."""
    shown = DeadTaskOut.model_validate(task)
    if not principal.sees_traceback_of(task.tenant):
        shown.traceback = None
    return shown


@router.get("/", response_model=PageOut[DeadTaskOut], responses=AUTH)
async def list_dead_letters(
    session: SessionDep,
    filters: Annotated[DeadLetterFilters, Query()],
    cursor: CursorDep,
    principal: Reader,
    limit: LimitDep = 100,
) -> PageOut[DeadTaskOut]:
    """List dead-lettered tasks, newest first, with the reason each one died."""
    tenants = await visible_tenants(session=session, principal=principal, asked=filters.tenant)
    page = await dead_letters.list_dead_letters(
        session=session, selection=filters.to_filter(tenants), limit=limit, cursor=cursor
    )
    return PageOut[DeadTaskOut](
        items=[_dead_task_out(task, principal) for task in page.items],
        next_cursor=page_out(page, DeadTaskOut).next_cursor,
    )


@router.get("/{task_id:uuid}", response_model=DeadTaskOut, responses=ONE_DEAD_TASK)
async def get_dead_letter(task_id: UUID, session: SessionDep, principal: Reader) -> DeadTaskOut:
    """One dead task: every attempt's error and the last traceback."""
    task = await dead_letters.get_dead_letter(
        session=session, task_id=task_id, tenant=principal.scope
    )
    return _dead_task_out(task, principal)


@router.post(
    "/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BulkReplayOut,
    responses=AUTH,
)
async def replay_dead_letters(
    body: BulkReplay, session: SessionDep, runtime: RuntimeDep, principal: Admin
) -> BulkReplayOut:
    """Replay the dead tasks a filter selects (at most `limit`), longest dead first."""
    outcome = await replay.replay_matching(
        session=session,
        outbox=runtime.outbox,
        selection=body.to_filter(selected_tenants(principal, body.tenant)),
        limit=body.limit,
        limits=runtime.payload_limits,
    )
    replayed = len(outcome.replayed)
    return BulkReplayOut(
        replayed=replayed,
        ids=outcome.replayed if replayed <= MAX_LISTED_IDS else None,
        skipped=outcome.skipped,
    )


@router.post(
    "/{task_id:uuid}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskOut,
    responses=ONE_DEAD_TASK,
)
async def replay_dead_letter(
    task_id: UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Writer,
    body: Annotated[ReplayRequest | None, Body()] = None,
) -> TaskOut:
    """Queue a dead task again, with a fresh attempt count (its error history stays)."""
    task = await replay.replay_dead_letter(
        session=session,
        outbox=runtime.outbox,
        task_id=task_id,
        tenant=principal.scope,
        limits=runtime.payload_limits,
        payload=body.payload if body else None,
    )
    return TaskOut.model_validate(task)


@router.delete("/", response_model=PurgeOut, responses=AUTH)
async def purge_dead_letters(
    selection: Annotated[DeadLetterSelection, Query()], session: SessionDep, principal: Admin
) -> PurgeOut:
    """Delete, for good, the dead tasks a filter selects (or all of them, with all=true)."""
    deleted = await purge.purge_matching(
        session=session,
        selection=selection.to_filter(selected_tenants(principal, selection.tenant)),
    )
    return PurgeOut(deleted=deleted)


@router.delete(
    "/{task_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE_DEAD_TASK,
)
async def purge_dead_letter(task_id: UUID, session: SessionDep, principal: Admin) -> None:
    """Delete one dead task, for good."""
    await purge.purge_dead_letter(session=session, task_id=task_id, tenant=principal.scope)
