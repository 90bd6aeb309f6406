"""HTTP bodies of the schedules (recurring tasks)."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.schemas import STRICT_BODY, Text, json_int
from config import names
from db.models import CatchUp, Schedule
from services.schedule_timing import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from services.schedules import ScheduleChanges, ScheduledTask, ScheduleSpec, task_of

Label = Annotated[Text, StringConstraints(min_length=1, max_length=200)]
CronText = Annotated[Text, StringConstraints(min_length=1, max_length=200)]
ZoneName = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
Interval = json_int(MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS)

CRON_DESCRIPTION = (
    "A five-field cron expression (minute hour day-of-month month day-of-week), read in "
    "`timezone`, e.g. `*/5 * * * *`. Exactly one of cron and interval_seconds."
)
INTERVAL_DESCRIPTION = "Seconds between runs. Exactly one of cron and interval_seconds."
ZONE_DESCRIPTION = "An IANA time zone (`Europe/Berlin`); DST is followed."
CATCH_UP_DESCRIPTION = (
    "Ticks missed while nothing ran: `once` makes one task for the most recent, `none` "
    "skips them all."
)
# Exactly one of them: OpenAPI says it, the service names the field when it is not so.
ONE_TIMING: list[Any] = [
    {"required": ["cron"], "properties": {"cron": {"type": "string"}}},
    {"required": ["interval_seconds"], "properties": {"interval_seconds": {"type": "integer"}}},
]


class ScheduledTaskIn(BaseModel):
    """The task each tick makes, validated as a submit of it is."""

    model_config = STRICT_BODY

    name: str = Field(min_length=1, max_length=200, description="A registered handler.")
    payload: dict[str, Any] = Field(default_factory=dict, description="The handler's input.")
    queue: str | None = Field(
        default=None,
        pattern=names.QUEUE_NAME_PATTERN,
        description="The named queue to run from (default: the handler's).",
    )
    priority: json_int(names.MIN_PRIORITY, names.MAX_PRIORITY) = Field(  # type: ignore[valid-type]
        default=names.DEFAULT_PRIORITY, description="0-9, higher first."
    )

    def to_task(self) -> ScheduledTask:
        return ScheduledTask(
            name=self.name, payload=self.payload, queue=self.queue, priority=self.priority
        )


class ScheduleCreate(BaseModel):
    """A recurring task: its timing (cron or interval) and the task each tick makes."""

    model_config = ConfigDict(
        **STRICT_BODY,
        json_schema_extra={
            "examples": [
                {
                    "name": "nightly",
                    "cron": "0 3 * * *",
                    "timezone": "Europe/Berlin",
                    "task": {"name": "echo", "payload": {"report": "daily"}},
                },
            ],  # fmt: skip
            "oneOf": ONE_TIMING,
        },
    )

    name: Label = Field(description="A label, to tell schedules apart.")
    cron: CronText | None = Field(default=None, description=CRON_DESCRIPTION)
    interval_seconds: Interval | None = Field(  # type: ignore[valid-type]
        default=None, description=INTERVAL_DESCRIPTION
    )
    timezone: ZoneName = Field(default="UTC", description=ZONE_DESCRIPTION)
    task: ScheduledTaskIn
    paused: bool = Field(default=False, description="A paused schedule makes no task.")
    # Strict mode wants an Enum member: the JSON string is the value, checked as usual.
    catch_up: CatchUp = Field(default=CatchUp.ONCE, strict=False, description=CATCH_UP_DESCRIPTION)

    def to_spec(self) -> ScheduleSpec:
        return ScheduleSpec(
            name=self.name,
            task=self.task.to_task(),
            cron=self.cron,
            interval_seconds=self.interval_seconds,
            timezone=self.timezone,
            paused=self.paused,
            catch_up=self.catch_up,
        )


class ScheduleUpdate(BaseModel):
    """What to change; fields left out (or null) stay. A cron expression replaces an
    interval and the other way round; a resume waits for the next tick from now."""

    model_config = ConfigDict(
        **STRICT_BODY,
        json_schema_extra={
            "examples": [{"paused": True}, {"interval_seconds": 60}],
            # Not both of cron and interval_seconds.
            "not": {"allOf": ONE_TIMING},
        },
    )

    name: Label | None = None
    cron: CronText | None = Field(default=None, description=CRON_DESCRIPTION)
    interval_seconds: Interval | None = Field(  # type: ignore[valid-type]
        default=None, description=INTERVAL_DESCRIPTION
    )
    timezone: ZoneName | None = Field(default=None, description=ZONE_DESCRIPTION)
    task: ScheduledTaskIn | None = Field(default=None, description="Replaces the task.")
    paused: bool | None = None
    catch_up: CatchUp | None = Field(default=None, strict=False, description=CATCH_UP_DESCRIPTION)

    def to_changes(self) -> ScheduleChanges:
        return ScheduleChanges(
            name=self.name,
            cron=self.cron,
            interval_seconds=self.interval_seconds,
            timezone=self.timezone,
            task=None if self.task is None else self.task.to_task(),
            paused=self.paused,
            catch_up=self.catch_up,
        )


class ScheduledTaskOut(BaseModel):
    name: str
    payload: dict[str, Any]
    queue: str | None = Field(description="Null: the handler's queue.")
    priority: int


class ScheduleOut(BaseModel):
    """A schedule, and when it runs next."""

    id: UUID
    tenant: str
    name: str
    cron: str | None
    interval_seconds: int | None
    timezone: str
    task: ScheduledTaskOut
    paused: bool
    catch_up: CatchUp
    next_run_at: datetime | None = Field(description="The next tick (UTC); null while paused.")
    last_run_at: datetime | None = Field(description="When it last made a task.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, schedule: Schedule) -> "ScheduleOut":
        task = task_of(schedule)
        return cls(
            id=schedule.id,
            tenant=schedule.tenant,
            name=schedule.name,
            cron=schedule.cron,
            interval_seconds=schedule.interval_seconds,
            timezone=schedule.timezone,
            task=ScheduledTaskOut(
                name=task.name, payload=task.payload, queue=task.queue, priority=task.priority
            ),
            paused=schedule.paused,
            catch_up=CatchUp(schedule.catch_up),
            next_run_at=schedule.next_run_at,
            last_run_at=schedule.last_run_at,
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
        )
