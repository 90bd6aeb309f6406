"""`taskgate dlq ls|show|replay|purge`: the dead-letter queue over the HTTP API."""

import uuid
from typing import Annotated, Any

import typer

from cli.exits import CliError, UsageError
from cli.http import API, Api
from cli.listing import LARGEST_PAGE, print_listing, read_pages
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
    Yes,
    connect,
    filters,
    payload_option,
)
from cli.output import note, print_json, say, show, task_view

DEAD_LETTER = f"{API}/dead-letter/"

app = typer.Typer(
    help="The dead-letter queue: list, inspect, replay and purge dead tasks.",
    no_args_is_help=True,
)

Error = Annotated[
    str | None, typer.Option(help="Only tasks whose error contains this (ignoring case).")
]
Everything = Annotated[
    bool, typer.Option("--all", help="Every dead task (a bulk action needs a filter or this).")
]
EditedPayload = Annotated[
    str | None, typer.Option(help="Replay one task with this payload (JSON, or @file).")
]
ReplayLimit = Annotated[int, typer.Option(help="A bulk replay replays at most this many.")]
OptionalId = Annotated[
    uuid.UUID | None,
    typer.Argument(metavar="[ID]", help="One dead task; without it, those the filters select."),
]


def _described(selection: dict[str, Any]) -> str:
    """The filters, for a person: `name fail; error contains 'timeout'`."""
    if not selection:
        return "every dead task"
    parts = []
    for field, value in selection.items():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        if field == "error":
            parts.append(f"error contains {shown!r}")
        else:
            parts.append(f"{field.replace('_', ' ')} {shown}")
    return "; ".join(parts)


def _matching(api: Api, selection: dict[str, Any]) -> int | None:
    """How many dead tasks the selection matches now (None: more than one page holds)."""
    page = api.get(DEAD_LETTER, {**selection, "limit": LARGEST_PAGE})
    return None if page.get("next_cursor") else len(page["items"])


def _confirm(question: str, yes: bool) -> None:
    """Ask; CliError unless the answer is yes (or --yes said it)."""
    if yes:
        return
    try:
        agreed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        # The question is left without its answer's line end: end it before saying why.
        note("")
        agreed = False
    if not agreed:
        raise CliError("not confirmed, nothing was done (--yes confirms without asking)")


def _bulk(api: Api, selection: dict[str, Any], everything: bool, doing: str, yes: bool) -> None:
    """Refuse an empty selection without --all; ask before acting on what it selects."""
    if not selection and not everything:
        raise UsageError(
            "say which dead tasks: an ID, --name, --error, --died-after, --died-before, "
            "--tenant, or --all for every one"
        )
    count = _matching(api, selection)
    if count != 0:
        many = f"more than {LARGEST_PAGE}" if count is None else str(count)
        _confirm(f"{doing} {many} dead task(s) ({_described(selection)})?", yes)


@app.command("ls")
def list_dead_letters(
    name: Names = None,
    error: Error = None,
    died_after: Moment = None,
    died_before: Moment = None,
    tenant: Tenants = None,
    limit: Limit = None,
    cursor: Cursor = None,
    every_page: EveryPage = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """List dead tasks, newest first, with the error each one died of."""
    selection = filters(
        name=name, error=error, died_after=died_after, died_before=died_before, tenant=tenant
    )
    with connect(url, key) as api:
        page = read_pages(
            api, DEAD_LETTER, selection, limit=limit, cursor=cursor, every_page=every_page
        )
    print_listing(page, as_json=as_json, dead=True)


@app.command("show")
def show_dead_letter(
    task_id: Annotated[uuid.UUID, typer.Argument(metavar="ID", help="The dead task's id.")],
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Show a dead task: every attempt's error and the last traceback."""
    with connect(url, key) as api:
        task = api.get(f"{DEAD_LETTER}{task_id}")
    if as_json:
        print_json(task)
    else:
        show(task_view(task))


@app.command("replay")
def replay(
    task_id: OptionalId = None,
    payload: EditedPayload = None,
    name: Names = None,
    error: Error = None,
    died_after: Moment = None,
    died_before: Moment = None,
    tenant: Tenants = None,
    everything: Everything = False,
    limit: ReplayLimit = 1000,
    yes: Yes = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Run dead tasks again: one by ID (--payload edits it), or those filters select (asks)."""
    selection = filters(
        name=name, error=error, died_after=died_after, died_before=died_before, tenant=tenant
    )
    if task_id is not None and (selection or everything):
        raise UsageError("give an ID or filters, not both")
    if task_id is None and payload is not None:
        raise UsageError("--payload replays one task: give its ID")
    edited = payload_option(payload)
    with connect(url, key) as api:
        if task_id is not None:
            body = None if edited is None else {"payload": edited}
            done = api.json("POST", f"{DEAD_LETTER}{task_id}/replay", body=body)
            message = f"replayed task {task_id}: it is {done['status']} again"
        else:
            _bulk(api, selection, everything, "Replay", yes)
            request = {**selection, **({"all": True} if everything else {}), "limit": limit}
            done = api.json("POST", f"{DEAD_LETTER}replay", body=request)
            message = f"replayed {done['replayed']} dead task(s); skipped {done['skipped']}"
    if as_json:
        print_json(done)
    else:
        say(message)


@app.command("purge")
def purge(
    task_id: OptionalId = None,
    name: Names = None,
    error: Error = None,
    died_after: Moment = None,
    died_before: Moment = None,
    tenant: Tenants = None,
    everything: Everything = False,
    yes: Yes = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Delete dead tasks for good: one by ID, or those filters select (asks first)."""
    selection = filters(
        name=name, error=error, died_after=died_after, died_before=died_before, tenant=tenant
    )
    if task_id is not None and (selection or everything):
        raise UsageError("give an ID or filters, not both")
    with connect(url, key) as api:
        if task_id is not None:
            _confirm(f"Delete dead task {task_id} for good?", yes)
            api.request("DELETE", f"{DEAD_LETTER}{task_id}")
            done: dict[str, Any] = {"deleted": 1}
        else:
            _bulk(api, selection, everything, "Delete", yes)
            query = {**selection, **({"all": "true"} if everything else {})}
            done = api.json("DELETE", DEAD_LETTER, params=query)
    if as_json:
        print_json(done)
    else:
        say(f"deleted {done['deleted']} dead task(s)")
