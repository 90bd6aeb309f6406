"""The dead-letter queue, as recorded in PostgreSQL: list, inspect, replay, purge."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, status

from app.api.deps import CursorDep, LimitDep, OutboxDep, SessionDep
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
from services import dead_letters, purge, replay

router = APIRouter(prefix="/dead-letter", tags=["dead-letter"])

# The answers of the routes that act on one dead task, besides their own.
ONE_DEAD_TASK: dict[int | str, dict[str, Any]] = {
    404: {"description": "No task has this id."},
    409: {"description": "The task is not dead; `status` says what it is."},
}


@router.get("/", response_model=PageOut[DeadTaskOut])
async def list_dead_letters(
    session: SessionDep,
    filters: Annotated[DeadLetterFilters, Query()],
    cursor: CursorDep,
    limit: LimitDep = 100,
) -> PageOut[DeadTaskOut]:
    """List dead-lettered tasks, newest first, with the reason each one died."""
    page = await dead_letters.list_dead_letters(
        session=session, selection=filters.to_filter(), limit=limit, cursor=cursor
    )
    return page_out(page, DeadTaskOut)


@router.get("/{task_id}", response_model=DeadTaskOut, responses=ONE_DEAD_TASK)
async def get_dead_letter(task_id: UUID, session: SessionDep) -> DeadTaskOut:
    """One dead task: every attempt's error and the last traceback."""
    task = await dead_letters.get_dead_letter(session=session, task_id=task_id)
    return DeadTaskOut.model_validate(task)


@router.post(
    "/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BulkReplayOut,
)
async def replay_dead_letters(
    body: BulkReplay, session: SessionDep, outbox: OutboxDep
) -> BulkReplayOut:
    """Replay the dead tasks a filter selects (at most `limit`), longest dead first."""
    outcome = await replay.replay_matching(
        session=session, outbox=outbox, selection=body.to_filter(), limit=body.limit
    )
    replayed = len(outcome.replayed)
    return BulkReplayOut(
        replayed=replayed,
        ids=outcome.replayed if replayed <= MAX_LISTED_IDS else None,
        skipped=outcome.skipped,
    )


@router.post(
    "/{task_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskOut,
    responses=ONE_DEAD_TASK,
)
async def replay_dead_letter(
    task_id: UUID,
    session: SessionDep,
    outbox: OutboxDep,
    body: Annotated[ReplayRequest | None, Body()] = None,
) -> TaskOut:
    """Queue a dead task again, with a fresh attempt count (its error history stays)."""
    task = await replay.replay_dead_letter(
        session=session, outbox=outbox, task_id=task_id, payload=body.payload if body else None
    )
    return TaskOut.model_validate(task)


@router.delete("/", response_model=PurgeOut)
async def purge_dead_letters(
    selection: Annotated[DeadLetterSelection, Query()], session: SessionDep
) -> PurgeOut:
    """Delete, for good, the dead tasks a filter selects (or all of them, with all=true)."""
    deleted = await purge.purge_matching(session=session, selection=selection.to_filter())
    return PurgeOut(deleted=deleted)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ONE_DEAD_TASK,
)
async def purge_dead_letter(task_id: UUID, session: SessionDep) -> None:
    """Delete one dead task, for good."""
    await purge.purge_dead_letter(session=session, task_id=task_id)
