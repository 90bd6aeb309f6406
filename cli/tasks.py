"""`taskgate submit|status|wait|cancel|ls`: tasks over the HTTP API."""

import uuid
from typing import Annotated, Any

import typer

from cli.http import API
from cli.listing import print_listing, read_pages
from cli.options import (
    DEFAULT_URL,
    AsJson,
    Cursor,
    EveryPage,
    Key,
    Limit,
    Moment,
    Names,
    Tenants,
    Url,
    connect,
    filters,
    payload_option,
)
from cli.output import print_json, say, show, task_view
from cli.waiting import RESULT, report_outcome, wait_for_task

SUBMIT = f"{API}/queue/"

TaskId = Annotated[uuid.UUID, typer.Argument(metavar="ID", help="The task's id.")]
Timeout = Annotated[
    float | None,
    typer.Option(
        help="Give up after this many seconds (exit 4); default: wait as long as it takes."
    ),
]
Payload = Annotated[
    str | None,
    typer.Option(help="The handler's input: a JSON object, or @file holding one (default {})."),
]
HandlerName = Annotated[str, typer.Argument(help="The handler to run, e.g. echo.")]
Queue = Annotated[str | None, typer.Option(help="A named queue (default: the handler's).")]
Priority = Annotated[int | None, typer.Option(help="0..9, higher first (default 5).")]
MaxAttempts = Annotated[
    int | None, typer.Option(help="Attempts before it is dead-lettered (default: the handler's).")
]
Delay = Annotated[float | None, typer.Option(help="Start no sooner than this many seconds.")]
RunAt = Annotated[
    str | None, typer.Option(help="Start no sooner than this time (ISO 8601 with a zone).")
]
IdempotencyKey = Annotated[
    str | None, typer.Option(help="A repeat with the same key gives back the first task.")
]
Wait = Annotated[bool, typer.Option("--wait", help="Wait for the task to finish.")]


def submit(
    name: HandlerName,
    payload: Payload = None,
    queue: Queue = None,
    priority: Priority = None,
    max_attempts: MaxAttempts = None,
    delay: Delay = None,
    run_at: RunAt = None,
    idempotency_key: IdempotencyKey = None,
    wait: Wait = False,
    timeout: Timeout = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Submit a task; with --wait, wait for it and exit 3 if it ends dead or cancelled."""
    body = filters(
        name=name,
        payload=payload_option(payload),
        queue=queue,
        priority=priority,
        max_attempts=max_attempts,
        delay_seconds=delay,
        run_at=run_at,
        # In the body rather than the header: a header cannot carry every key a user types.
        idempotency_key=idempotency_key,
    )
    with connect(url, key) as api:
        code, task = api.exchange("POST", SUBMIT, body=body)
        repeat = code == 200
        if wait:
            if not as_json:
                _said_submitted(task, repeat)
            report_outcome(
                wait_for_task(api, task["id"], timeout), as_json=as_json, timeout=timeout
            )
            return
    if as_json:
        print_json(task)
    else:
        _said_submitted(task, repeat)


def _said_submitted(task: dict[str, Any], repeat: bool) -> None:
    where = f"queue {task['queue']}, priority {task['priority']}"
    if repeat:
        say(f"task {task['id']} was submitted before with this idempotency key: {task['status']}")
    else:
        say(f"submitted task {task['id']} ({task['name']}, {task['status']}, {where})")


def status(
    task_id: TaskId, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False
) -> None:
    """Show a task: its state, result or error, and every failed attempt."""
    with connect(url, key) as api:
        task = api.get(f"{RESULT}/{task_id}")
    if as_json:
        print_json(task)
    else:
        show(task_view(task))


def wait(
    task_id: TaskId,
    timeout: Timeout = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Wait for a task to finish: exit 0 if it succeeded, 3 if dead or cancelled, 4 on timeout."""
    with connect(url, key) as api:
        task = wait_for_task(api, task_id, timeout)
    report_outcome(task, as_json=as_json, timeout=timeout)


def cancel(
    task_id: TaskId, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False
) -> None:
    """Cancel a task that has not finished (a running one is stopped by its worker)."""
    with connect(url, key) as api:
        code, task = api.exchange("POST", f"{SUBMIT}{task_id}/cancel")
    if as_json:
        print_json(task)
    elif code == 202:
        say(f"task {task_id} is running: its worker was asked to stop it (it ends cancelled)")
    else:
        say(f"cancelled task {task_id}")


def ls(
    status: Annotated[
        list[str] | None, typer.Option("--status", help="A state, e.g. dead (repeatable).")
    ] = None,
    name: Names = None,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", help="A queue (repeatable).")
    ] = None,
    created_after: Moment = None,
    created_before: Moment = None,
    tenant: Tenants = None,
    limit: Limit = None,
    cursor: Cursor = None,
    every_page: EveryPage = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """List tasks, newest first; filters combine (every one must hold)."""
    params = filters(
        status=status,
        name=name,
        queue=queue,
        created_after=created_after,
        created_before=created_before,
        tenant=tenant,
    )
    with connect(url, key) as api:
        page = read_pages(
            api, f"{RESULT}/", params, limit=limit, cursor=cursor, every_page=every_page
        )
    print_listing(page, as_json=as_json)
