"""`taskgate stats`: every named queue's messages, consumers and tasks, live."""

import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli.http import API, Api, ApiError, Unreachable
from cli.options import DEFAULT_URL, AsJson, Key, Url, connect
from cli.output import out, print_json, show, table

QUEUES = f"{API}/queue/"
STATUSES = ("scheduled", "queued", "running", "retrying", "succeeded", "dead", "cancelled")


def _statuses(queues: list[dict[str, Any]]) -> list[str]:
    """The task states to show: the known ones in lifecycle order, then any other."""
    found = {status for queue in queues for status in queue.get("tasks", {})}
    return [*STATUSES, *sorted(found - set(STATUSES))]


def stats_table(document: dict[str, Any]) -> Table:
    """A row per queue (all bands) and per band: ready, consumers, and tasks by state."""
    queues = document.get("queues", [])
    statuses = _statuses(queues)
    shown = table("queue", "band", "ready", "consumers", *statuses)
    for column in shown.columns[2:]:
        column.justify = "right"
    for queue in queues:
        tasks = queue.get("tasks", {})
        counts = [Text(str(tasks.get(status, 0))) for status in statuses]
        bands = queue.get("bands")
        band = "all" if bands is not None else "(RabbitMQ did not answer)"
        shown.add_row(
            Text(str(queue.get("name")), style="bold"),
            Text(band),
            Text(str(queue.get("ready", 0))),
            Text(str(queue.get("consumers", 0))),
            *counts,
        )
        for each in bands or ():
            blanks = [Text("")] * len(statuses)
            shown.add_row(
                Text(""),
                Text(str(each.get("band"))),
                Text(str(each.get("ready"))),
                Text(str(each.get("consumers"))),
                *blanks,
            )
    return shown


def _screen(document: dict[str, Any], url: str, every: float, problem: str | None) -> Group:
    now = datetime.now().strftime("%H:%M:%S")
    heading = Text(f"Taskgate at {url}, {now}; every {every:g} s, Ctrl-C to stop", style="dim")
    parts: list[RenderableType] = [heading, stats_table(document)]
    if problem:
        parts.append(Text(f"last refresh failed: {problem}", style="red"))
    return Group(*parts)


def _refresh(api: Api, last: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The stats now, or after a passing failure the last ones and why; others end it."""
    try:
        document: dict[str, Any] = api.get(QUEUES)
        return document, None
    except ApiError as error:
        if not error.transient:
            raise
        return last, str(error)
    except Unreachable as error:
        return last, str(error)


def _live(api: Api, first: dict[str, Any], every: float) -> None:
    document, problem = first, None
    with Live(_screen(document, api.url, every, problem), console=out, auto_refresh=False) as live:
        while True:
            time.sleep(every)
            document, problem = _refresh(api, document)
            live.update(_screen(document, api.url, every, problem), refresh=True)


def stats(
    every: Annotated[
        float, typer.Option("--every", min=0.2, help="Seconds between refreshes.")
    ] = 2.0,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Queues and bands: ready messages, consumers and tasks by state, live until Ctrl-C."""
    with connect(url, key) as api:
        first: dict[str, Any] = api.get(QUEUES)
        if as_json:
            print_json(first)
            return
        if not out.is_terminal:
            show(stats_table(first))
            return
        try:
            _live(api, first, every)
        except KeyboardInterrupt:
            return
