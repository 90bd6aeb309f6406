"""What the commands print: the API's JSON for scripts, tables for people."""

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Column, Table
from rich.text import Text

# Text from tasks is never read as Rich markup: a payload may well hold `[bold]`.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

STATUS_STYLES = {
    "succeeded": "green",
    "dead": "bold red",
    "cancelled": "yellow",
    "running": "cyan",
    "retrying": "magenta",
}
ERROR = "error"
# A dead task's error, in a list, is its first line cut to this.
SHOWN_ERROR_CHARS = 120
TASK_COLUMNS = ("id", "name", "queue", "pri", "status", "attempts", "created")
DEAD_COLUMNS = ("id", "name", "attempts", "died", ERROR)


def print_json(document: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """One line for a person, on stdout."""
    out.print(Text(message), soft_wrap=True)


def note(message: str) -> None:
    """One line beside the output (a hint, a warning), on stderr."""
    err.print(Text(message), soft_wrap=True)


def moment(value: Any) -> str:
    """An API time as `2026-01-31 12:00:00Z` (UTC, to the second); empty for none."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return str(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%SZ")


def compact(value: Any) -> str:
    """A JSON value on one line."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def status_text(status: Any) -> Text:
    return Text(str(status), style=STATUS_STYLES.get(str(status), ""))


def table(*columns: str, title: str | None = None) -> Table:
    """A table whose cells wrap rather than hide what they hold; ids never wrap."""
    return Table(
        *(Column(name, overflow="fold", no_wrap=name == "id") for name in columns),
        title=title,
        box=box.SIMPLE_HEAD,
    )


def task_rows(tasks: Iterable[dict[str, Any]], *, dead: bool = False) -> Table:
    """Tasks, one row each; dead ones with when and of what they died."""
    shown = table(*(DEAD_COLUMNS if dead else TASK_COLUMNS))
    for task in tasks:
        cells = [Text(str(task.get("id"))), Text(str(task.get("name")))]
        if not dead:
            cells += [
                Text(str(task.get("queue"))),
                Text(str(task.get("priority"))),
                status_text(task.get("status")),
            ]
        cells.append(Text(f"{task.get('attempts')}/{task.get('max_attempts')}"))
        if dead:
            error = str(task.get("error") or "").strip().split("\n")[0]
            cells += [Text(moment(task.get("finished_at"))), Text(error[:SHOWN_ERROR_CHARS])]
        else:
            cells.append(Text(moment(task.get("created_at"))))
        shown.add_row(*cells)
    return shown


def _fields(task: dict[str, Any]) -> list[tuple[str, Text]]:
    fields = [
        ("id", Text(str(task.get("id")))),
        ("name", Text(str(task.get("name")))),
        ("status", status_text(task.get("status"))),
        ("queue", Text(f"{task.get('queue')} (priority {task.get('priority')})")),
        ("tenant", Text(str(task.get("tenant", "")))),
        ("attempts", Text(f"{task.get('attempts')} of {task.get('max_attempts')}")),
        ("replays", Text(str(task.get("replays", 0)))),
    ]
    if task.get("progress"):
        fields.append(("progress", Text(progress_text(task["progress"]))))
    for label, key in (
        ("run at", "run_at"),
        ("created", "created_at"),
        ("started", "started_at"),
        ("finished", "finished_at"),
        ("cancel asked", "cancel_requested_at"),
    ):
        if task.get(key):
            fields.append((label, Text(moment(task[key]))))
    fields.append(("payload", Text(compact(task.get("payload")))))
    if task.get("result") is not None:
        fields.append(("result", Text(compact(task["result"]))))
    if task.get("error"):
        fields.append(("error", Text(str(task["error"]), style="red")))
    return fields


def progress_text(progress: dict[str, Any]) -> str:
    """A progress report as `40% slept 4 of 10 s` (whole percents, rounded down)."""
    percent = int(float(progress.get("fraction") or 0) * 100 + 1e-9)
    message = progress.get("message")
    return f"{percent}%" + (f" {message}" if message else "")


def _attempt_errors(errors: Sequence[dict[str, Any]]) -> Table:
    shown = table("attempt", "error", "failed", "retry in", title="Failed attempts")
    for item in errors:
        retry = item.get("retry_in")
        shown.add_row(
            Text(str(item.get("attempt"))),
            Text(str(item.get("error"))),
            Text(moment(item.get("failed_at"))),
            Text("" if retry is None else f"{retry:g} s"),
        )
    return shown


def task_view(task: dict[str, Any]) -> RenderableType:
    """One task: its fields, every failed attempt, and a dead task's last traceback."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, value in _fields(task):
        grid.add_row(label, value)
    parts: list[RenderableType] = [grid]
    if task.get("errors"):
        parts.append(_attempt_errors(task["errors"]))
    if task.get("traceback"):
        parts.extend([Text("Traceback of the last attempt", style="bold"), Text(task["traceback"])])
    return Group(*parts)


def show(renderable: RenderableType) -> None:
    """A table or a view, on stdout."""
    out.print(renderable)
