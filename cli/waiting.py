"""Waiting for a task to finish: the API's long poll, asked again until it ends."""

import time
import uuid
from typing import Any

from cli.exits import CliError, ExitCode
from cli.http import API, Api
from cli.output import print_json, show, task_view

RESULT = f"{API}/result"
TERMINAL = frozenset({"succeeded", "dead", "cancelled"})
# The longest wait one request may ask for (the API's limit).
MAX_POLL_SECONDS = 60.0
# Shorter than this, a wait is not worth a long poll: the task is read as it is.
MIN_POLL_SECONDS = 0.01
# Seconds a long poll's answer may take beyond the wait it asked for.
POLL_SLACK = 15.0
# A task's error, in the line that says it failed, is cut to this.
SHOWN_ERROR_CHARS = 200


def wait_for_task(api: Api, task_id: uuid.UUID | str, timeout: float | None) -> dict[str, Any]:
    """The task once finished, or as it is after `timeout` seconds (None: no limit)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = MAX_POLL_SECONDS if deadline is None else deadline - time.monotonic()
        poll = min(left, MAX_POLL_SECONDS)
        if poll < MIN_POLL_SECONDS:
            task: dict[str, Any] = api.get(f"{RESULT}/{task_id}")
            return task
        task = api.get(
            f"{RESULT}/{task_id}", params={"wait": f"{poll:.3f}"}, timeout=poll + POLL_SLACK
        )
        if task.get("status") in TERMINAL:
            return task


def report_outcome(task: dict[str, Any], *, as_json: bool, timeout: float | None) -> None:
    """Print the task; end with the exit code its outcome calls for."""
    if as_json:
        print_json(task)
    else:
        show(task_view(task))
    status = task.get("status")
    if status == "succeeded":
        return
    if status in TERMINAL:
        error = str(task.get("error") or "")
        why = f": {error[:SHOWN_ERROR_CHARS]}" if error else ""
        raise CliError(f"task {task.get('id')} ended {status}{why}", ExitCode.TASK_FAILED)
    after = "" if timeout is None else f" after {timeout:g} s"
    raise CliError(
        f"task {task.get('id')} has not finished{after} (it is {status})", ExitCode.TIMED_OUT
    )
