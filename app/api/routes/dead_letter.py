"""The dead-letter queue, as recorded in PostgreSQL."""

from fastapi import APIRouter

from app.api.deps import CursorDep, LimitDep, SessionDep
from app.schemas import DeadTaskOut, PageOut, page_out
from app.services.tasks import QUEUE_STATUSES, QueueName, list_tasks

router = APIRouter(prefix="/dead-letter", tags=["dead-letter"])


@router.get("/", response_model=PageOut[DeadTaskOut])
async def list_dead_letters(
    session: SessionDep, cursor: CursorDep, limit: LimitDep = 100
) -> PageOut[DeadTaskOut]:
    """List dead-lettered tasks, newest first, with the reason each one died."""
    page = await list_tasks(
        session=session,
        statuses=QUEUE_STATUSES[QueueName.DEAD_LETTER],
        limit=limit,
        cursor=cursor,
    )
    return page_out(page, DeadTaskOut)
