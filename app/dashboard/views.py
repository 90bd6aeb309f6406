"""What the templates show of a task and of a page of tasks, as the viewer may see it, and
the notices a page shows after a form was handled."""

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel

from db.models import TERMINAL_STATUSES, Role, Task, TaskStatus
from db.tasks.reads import Page
from publishers.topology import band_of
from services.access import Principal
from services.dead_letters import is_message_record
from services.pagination import encode_cursor


@dataclass(frozen=True)
class TaskView:
    """A task as the viewer sees it (a traceback only of the viewer's own tenant), and
    what the viewer may do to it."""

    task: Task
    band: str
    traceback: str | None
    traceback_hidden: bool
    may_cancel: bool
    may_replay: bool
    may_purge: bool

    @property
    def finished(self) -> bool:
        return self.task.status in TERMINAL_STATUSES

    @property
    def run_seconds(self) -> float | None:
        return _between(self.task.started_at, self.task.finished_at)

    @property
    def message_record(self) -> bool:
        """A record of a message no worker could read, not a task that died."""
        return self.task.status == TaskStatus.DEAD and is_message_record(self.task)

    @property
    def progress(self) -> "ProgressView | None":
        """What the handler last reported of its progress, if it reported anything."""
        return ProgressView.of(self.task.progress)

    @property
    def progress_live(self) -> bool:
        """Whether the report is of the attempt running now (a bar is drawn for it)."""
        report, started = self.progress, self.task.started_at
        return (
            self.task.status == TaskStatus.RUNNING
            and report is not None
            and (started is None or report.updated_at is None or report.updated_at >= started)
        )


@dataclass(frozen=True)
class ProgressView:
    """A progress report as the pages show it: whole percents, the message, when."""

    percent: int
    message: str | None
    updated_at: datetime | None

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> "ProgressView | None":
        if not stored or not isinstance(stored.get("fraction"), int | float):
            return None
        # Whole percents, rounded down (0.29 stays 29 despite floats): 100 only once the
        # handler says it is done.
        percent = min(max(math.floor(stored["fraction"] * 100 + 1e-9), 0), 100)
        message = stored.get("message")
        return cls(percent, message if isinstance(message, str) else None, _moment(stored))


def _moment(stored: dict[str, Any]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(stored.get("updated_at")))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _between(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def task_view(task: Task, principal: Principal) -> TaskView:
    dead = task.status == TaskStatus.DEAD
    shown = principal.sees_traceback_of(task.tenant)
    return TaskView(
        task=task,
        band=band_of(task.priority).value,
        traceback=task.traceback if shown else None,
        traceback_hidden=task.traceback is not None and not shown,
        may_cancel=task.status not in TERMINAL_STATUSES and principal.may(Role.WRITE),
        may_replay=dead and principal.may(Role.WRITE) and not is_message_record(task),
        may_purge=dead and principal.may(Role.ADMIN),
    )


@dataclass(frozen=True)
class PageView:
    """One page of tasks, and the address of the next one (the same filters)."""

    items: list[TaskView]
    next_url: str | None
    first_url: str | None


def page_view(page: Page[Task], principal: Principal, *, path: str, filters: BaseModel) -> PageView:
    """The page's tasks; links to the next page and back to the first, keeping the filters."""
    query = _query_of(filters)
    next_url = None
    if page.next_cursor is not None:
        next_url = f"{path}?{urlencode([*query, ('cursor', encode_cursor(page.next_cursor))])}"
    first_url = f"{path}?{urlencode(query)}" if getattr(filters, "cursor", None) else None
    return PageView(
        items=[task_view(task, principal) for task in page.items],
        next_url=next_url,
        first_url=first_url,
    )


def _query_of(filters: BaseModel) -> list[tuple[str, str]]:
    """The filters (not the cursor) as query parameters."""
    query: list[tuple[str, str]] = []
    for key, value in filters.model_dump(exclude={"cursor"}, exclude_none=True).items():
        values = value if isinstance(value, list) else [value]
        query.extend((key, _text(item)) for item in values)
    return query


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


# What a page says after a form was handled (`?notice=`): fixed words, and numbers only.
NOTICES = {
    "cancelled": "Cancelled: the task will not run.",
    "cancel-requested": "Cancel requested: the task is running; its worker stops it.",
    "replayed": "Replayed: the task is queued again.",
    "purged": "Purged: the dead task is deleted.",
    "replayed-many": "Replayed {count} dead tasks ({skipped} could not run and were skipped).",
    "purged-many": "Purged {count} dead tasks.",
}
LOGIN_NOTICES = {
    "expired": "Your session ended. Sign in again.",
    "revoked": "The key of your session was revoked (or no longer exists). Sign in with "
    "another key.",
    "signed-out": "You are signed out.",
}


def notice_text(values: dict[str, str]) -> str | None:
    """The notice a query string names, if it names one."""
    template = NOTICES.get(values.get("notice", ""))
    if template is None:
        return None
    numbers = {}
    for key in ("count", "skipped"):
        raw = values.get(key, "0")
        numbers[key] = int(raw) if raw.isdigit() and len(raw) < 10 else 0
    return template.format(**numbers)
