"""`taskgate schedules create|ls|show|pause|resume|trigger|rm`: recurring tasks over the
HTTP API."""

import uuid
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cli.exits import UsageError
from cli.http import API, Api
from cli.listing import print_page, read_pages
from cli.options import (
    DEFAULT_URL,
    AsJson,
    Cursor,
    EveryPage,
    Key,
    Limit,
    Url,
    connect,
    filters,
    payload_option,
)
from cli.output import compact, moment, print_json, say, show, table

SCHEDULES = f"{API}/schedules"

app = typer.Typer(
    help="Schedules: tasks made at every tick of a cron expression or an interval.",
    no_args_is_help=True,
)

ScheduleId = Annotated[uuid.UUID, typer.Argument(metavar="ID", help="The schedule's id.")]
Name = Annotated[str, typer.Argument(help="A label, to tell schedules apart.")]
Cron = Annotated[
    str | None,
    typer.Option(help="A cron expression, five fields: '*/5 * * * *' (or --every)."),
]
Every = Annotated[
    int | None, typer.Option(help="Seconds between runs (or --cron).", show_default=False)
]
Zone = Annotated[str, typer.Option("--timezone", help="The IANA time zone --cron is read in.")]
Handler = Annotated[str, typer.Option("--task", help="The handler each run runs, e.g. echo.")]
Payload = Annotated[
    str | None,
    typer.Option(help="The handler's input: a JSON object, or @file holding one (default {})."),
]
Queue = Annotated[str | None, typer.Option(help="A named queue (default: the handler's).")]
Priority = Annotated[int | None, typer.Option(help="0..9, higher first (default 5).")]
Paused = Annotated[bool, typer.Option("--paused", help="Make it paused: it runs once resumed.")]
CatchUp = Annotated[
    str | None,
    typer.Option(
        help="Runs missed while nothing ran: once (one run for the latest, the default) or "
        "none (skip them)."
    ),
]
COLUMNS = ("id", "name", "when", "task", "next run", "last run")
HANDLERS_QUEUE = "the handler's queue"


def _when(schedule: dict[str, Any]) -> str:
    """`cron 0 3 * * * (Europe/Berlin)` or `every 60 s`."""
    if schedule.get("cron"):
        return f"cron {schedule['cron']} ({schedule.get('timezone')})"
    return f"every {schedule.get('interval_seconds')} s"


def _next_run(schedule: dict[str, Any]) -> Text:
    if schedule.get("paused"):
        return Text("paused", style="yellow")
    return Text(moment(schedule.get("next_run_at")))


def _rows(schedules: list[dict[str, Any]]) -> Table:
    shown = table(*COLUMNS)
    for schedule in schedules:
        shown.add_row(
            Text(str(schedule.get("id"))),
            Text(str(schedule.get("name"))),
            Text(_when(schedule)),
            Text(str((schedule.get("task") or {}).get("name"))),
            _next_run(schedule),
            Text(moment(schedule.get("last_run_at")) or "never"),
        )
    return shown


def _view(schedule: dict[str, Any]) -> Table:
    task = schedule.get("task") or {}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, value in (
        ("id", Text(str(schedule.get("id")))),
        ("name", Text(str(schedule.get("name")))),
        ("tenant", Text(str(schedule.get("tenant", "")))),
        ("when", Text(_when(schedule))),
        ("catch up", Text(str(schedule.get("catch_up")))),
        ("next run", _next_run(schedule)),
        ("last run", Text(moment(schedule.get("last_run_at")) or "never")),
        ("task", Text(str(task.get("name")))),
        (
            "queue",
            Text(f"{task.get('queue') or HANDLERS_QUEUE} (priority {task.get('priority')})"),
        ),
        ("payload", Text(compact(task.get("payload")))),
        ("created", Text(moment(schedule.get("created_at")))),
    ):
        grid.add_row(label, value)
    return grid


def _shown(schedule: dict[str, Any], message: str, as_json: bool) -> None:
    if as_json:
        print_json(schedule)
    else:
        say(message)


@app.command("create")
def create(
    name: Name,
    task: Handler,
    cron: Cron = None,
    every: Every = None,
    timezone: Zone = "UTC",
    payload: Payload = None,
    queue: Queue = None,
    priority: Priority = None,
    paused: Paused = False,
    catch_up: CatchUp = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Make a schedule: --cron or --every, and the task each run makes."""
    if (cron is None) == (every is None):
        raise UsageError("give --cron (a cron expression) or --every (seconds), one of them")
    body = filters(
        name=name,
        cron=cron,
        interval_seconds=every,
        timezone=timezone,
        task=filters(name=task, payload=payload_option(payload), queue=queue, priority=priority),
        paused=paused,
        catch_up=catch_up,
    )
    with connect(url, key) as api:
        made = api.json("POST", SCHEDULES, body=body)
    state = "paused" if made["paused"] else f"next run {moment(made['next_run_at'])}"
    _shown(made, f"made schedule {made['id']} ({made['name']}, {_when(made)}, {state})", as_json)


@app.command("ls")
def list_schedules(
    limit: Limit = None,
    cursor: Cursor = None,
    every_page: EveryPage = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """List the schedules, newest first, with their next and last run."""
    with connect(url, key) as api:
        page = read_pages(api, SCHEDULES, {}, limit=limit, cursor=cursor, every_page=every_page)
    print_page(page, as_json=as_json, rows=_rows, one="schedule", many="schedules")


@app.command("show")
def show_schedule(
    schedule_id: ScheduleId, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False
) -> None:
    """Show a schedule: when it runs, its task, its next and last run."""
    with connect(url, key) as api:
        schedule = api.get(f"{SCHEDULES}/{schedule_id}")
    if as_json:
        print_json(schedule)
    else:
        show(_view(schedule))


def _set_paused(api: Api, schedule_id: uuid.UUID, paused: bool) -> dict[str, Any]:
    changed: dict[str, Any] = api.json(
        "PATCH", f"{SCHEDULES}/{schedule_id}", body={"paused": paused}
    )
    return changed


@app.command("pause")
def pause(
    schedule_id: ScheduleId, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False
) -> None:
    """Pause a schedule: it makes no task until resumed."""
    with connect(url, key) as api:
        changed = _set_paused(api, schedule_id, True)
    _shown(changed, f"paused schedule {schedule_id}", as_json)


@app.command("resume")
def resume(
    schedule_id: ScheduleId, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False
) -> None:
    """Resume a schedule: it runs at its next tick from now (missed ones are not made)."""
    with connect(url, key) as api:
        changed = _set_paused(api, schedule_id, False)
    message = f"resumed schedule {schedule_id}: next run {moment(changed['next_run_at'])}"
    _shown(changed, message, as_json)


@app.command("trigger")
def trigger(
    schedule_id: ScheduleId, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False
) -> None:
    """Make the schedule's task now (its runs stay as they are)."""
    with connect(url, key) as api:
        task = api.json("POST", f"{SCHEDULES}/{schedule_id}/trigger")
    _shown(task, f"made task {task['id']} ({task['name']}, {task['status']})", as_json)


@app.command("rm")
def remove(
    schedule_id: ScheduleId, url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False
) -> None:
    """Delete a schedule; the tasks it made stay."""
    with connect(url, key) as api:
        api.request("DELETE", f"{SCHEDULES}/{schedule_id}")
    _shown({"deleted": str(schedule_id)}, f"deleted schedule {schedule_id}", as_json)
