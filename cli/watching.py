"""`taskgate watch`: a task's changes as they happen, one line each, from its live event
stream (GET /api/v1/result/{id}/events), until it ends."""

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from cli.exits import CliError, ExitCode
from cli.http import Api
from cli.options import DEFAULT_URL, AsJson, Key, Url, connect
from cli.output import moment, print_json, progress_text, say
from cli.waiting import RESULT, SHOWN_ERROR_CHARS, TERMINAL

# The events that carry the task (the stream's `event:` field).
TASK_EVENT = "task"
# Pause before resuming a stream the server ended before the task did (its longest span).
RESUME_PAUSE_SECONDS = 1.0

TaskId = Annotated[uuid.UUID, typer.Argument(metavar="ID", help="The task's id.")]


def read_events(lines: Iterable[str]) -> Iterator[tuple[str, str, str | None]]:
    """(event, data, id) of each event of a text/event-stream; comments are skipped."""
    name, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data), event_id
            name, data = "message", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value


def follow(
    api: Api, task_id: uuid.UUID, on_change: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Call `on_change` with the task as it is, then on each change; its state once ended.
    A stream the server ends early (SSE_MAX_SECONDS) is resumed after its last event."""
    last_id: str | None = None
    task: dict[str, Any] | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else None
        with api.stream(f"{RESULT}/{task_id}/events", headers=headers) as response:
            if response.status_code == 204:
                # It had ended, and its end was the last event seen.
                ended: dict[str, Any] = task or api.get(f"{RESULT}/{task_id}")
                return ended
            for name, data, event_id in read_events(response.iter_lines()):
                if name != TASK_EVENT:
                    continue
                task, last_id = json.loads(data), event_id
                on_change(task)
                if task.get("status") in TERMINAL:
                    return task
        time.sleep(RESUME_PAUSE_SECONDS)


def change_line(task: dict[str, Any]) -> str:
    """One line of a change: when it was seen, the status, the attempt, the progress."""
    seen = moment(datetime.now(UTC).isoformat())
    line = f"{seen} {task.get('status')} attempt {task.get('attempts')}/{task.get('max_attempts')}"
    if task.get("progress"):
        line += f" {progress_text(task['progress'])}"
    if task.get("cancel_requested_at") and task.get("status") not in TERMINAL:
        line += " (cancel requested)"
    if task.get("status") in TERMINAL and task.get("error"):
        line += f": {str(task['error']).splitlines()[0][:SHOWN_ERROR_CHARS]}"
    return line


def watch(
    task_id: TaskId, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False
) -> None:
    """Follow a task live, a line per change, until it ends: exit 0 if it succeeded, 3 if
    dead or cancelled."""

    def shown(task: dict[str, Any]) -> None:
        if as_json:
            print_json(task)
        else:
            say(change_line(task))

    with connect(url, key) as api:
        task = follow(api, task_id, shown)
    status = task.get("status")
    if status != "succeeded":
        error = str(task.get("error") or "")
        why = f": {error[:SHOWN_ERROR_CHARS]}" if error else ""
        raise CliError(f"task {task_id} ended {status}{why}", ExitCode.TASK_FAILED)
