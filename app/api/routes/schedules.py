"""Schedules: recurring tasks of the key's tenant, made at every tick of a cron expression
or an interval (and now, on a trigger)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, status

from app.api.deps import CursorDep, LimitDep, RuntimeDep, SessionDep, SubmitterDep
from app.api.responses import AUTH, TOO_MANY, Responses
from app.auth import require
from app.schedule_schemas import ScheduleCreate, ScheduleOut, ScheduleUpdate
from app.schemas import PageOut, TaskOut
from db.models import Role
from services import schedules
from services.access import Principal
from services.pagination import encode_cursor

router = APIRouter(prefix="/schedules", tags=["schedules"])

ScheduleReader = Annotated[Principal, require(Role.READ, "reading schedules")]
ScheduleWriter = Annotated[Principal, require(Role.WRITE, "changing or triggering schedules")]
NO_SCHEDULE: Responses = {404: {"description": "No such schedule (of this key's tenant)."}}
INVALID: Responses = {
    422: {
        "description": "A field is wrong (`loc` names it): a cron expression, a time zone, "
        "both or neither of cron and interval_seconds, or a task a submit would refuse."
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleOut,
    responses={**AUTH, **INVALID},
)
async def create_schedule(
    body: ScheduleCreate, session: SessionDep, runtime: RuntimeDep, principal: ScheduleWriter
) -> ScheduleOut:
    """Make a schedule; its first task comes at its first tick from now."""
    schedule = await schedules.create_schedule(
        session=session, tenant=principal.tenant, spec=body.to_spec(), settings=runtime.settings
    )
    return ScheduleOut.of(schedule)


@router.get("", response_model=PageOut[ScheduleOut], responses=AUTH)
async def list_schedules(
    session: SessionDep, cursor: CursorDep, principal: ScheduleReader, limit: LimitDep = 100
) -> PageOut[ScheduleOut]:
    """The schedules of this key's tenant (an operator's: every tenant's), newest first."""
    page = await schedules.list_schedules(
        session=session, tenant=principal.scope, cursor=cursor, limit=limit
    )
    return PageOut[ScheduleOut](
        items=[ScheduleOut.of(schedule) for schedule in page.items],
        next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
    )


@router.get("/{schedule_id}", response_model=ScheduleOut, responses={**AUTH, **NO_SCHEDULE})
async def get_schedule(
    schedule_id: UUID, session: SessionDep, principal: ScheduleReader
) -> ScheduleOut:
    """One schedule, with its next and last run."""
    schedule = await schedules.get_schedule(
        session=session, schedule_id=schedule_id, tenant=principal.scope
    )
    return ScheduleOut.of(schedule)


@router.patch(
    "/{schedule_id}", response_model=ScheduleOut, responses={**AUTH, **NO_SCHEDULE, **INVALID}
)
async def update_schedule(
    schedule_id: UUID,
    body: ScheduleUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: ScheduleWriter,
) -> ScheduleOut:
    """Change a schedule: pause or resume it, retime it, replace its task."""
    schedule = await schedules.update_schedule(
        session=session,
        schedule_id=schedule_id,
        tenant=principal.scope,
        changes=body.to_changes(),
        settings=runtime.settings,
    )
    return ScheduleOut.of(schedule)


@router.delete(
    "/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**AUTH, **NO_SCHEDULE},
)
async def delete_schedule(
    schedule_id: UUID, session: SessionDep, principal: ScheduleWriter
) -> None:
    """Delete a schedule; the tasks it made stay."""
    await schedules.delete_schedule(
        session=session, schedule_id=schedule_id, tenant=principal.scope
    )


@router.post(
    "/{schedule_id}/trigger",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskOut,
    responses={**AUTH, **NO_SCHEDULE, **INVALID, **TOO_MANY},
)
async def trigger_schedule(
    schedule_id: UUID, session: SessionDep, submitter: SubmitterDep, principal: ScheduleWriter
) -> TaskOut:
    """Make the schedule's task now (paused or not); its ticks stay as they are."""
    accepted = await schedules.trigger_schedule(
        session=session, submitter=submitter, schedule_id=schedule_id, tenant=principal.scope
    )
    return TaskOut.model_validate(accepted.task)
