"""`taskgate submit-file`: every task of a JSON Lines file, in batches, line by line."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli.batch_sender import MAX_BATCH_BYTES, Sender, batch_limit
from cli.exits import ExitCode
from cli.file_report import REJECTED, Report
from cli.options import DEFAULT_URL, AsJson, Key, Url, connect
from cli.output import err
from cli.task_lines import BadLine, batches, open_tasks, read_lines


@contextmanager
def _progress(total: int | None) -> Iterator[Progress]:
    """A progress bar on stderr, shown only on a terminal."""
    progress = Progress(
        TextColumn("submitting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with progress:
        yield progress


def submit_file(
    path: Annotated[
        str,
        typer.Argument(metavar="FILE", help="JSON Lines, one submit body a line (`-`: stdin)."),
    ],
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Tasks per request (default, and most: the API's limit)."),
    ] = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Submit a task per line, in batches; say which lines were accepted, duplicates, rejected."""
    handle, total = open_tasks(path)
    report = Report()
    with handle, connect(url, key) as api, _progress(total) as progress:
        bar = progress.add_task("submitting", total=total)
        limit = batch_limit(api)
        sender = Sender(api, report, settled=lambda count: progress.advance(bar, count))

        def bad(line: BadLine) -> None:
            report.rejected(line.number, line.reason)
            progress.advance(bar, 1)

        size = min(batch_size or limit, limit)
        for batch in batches(read_lines(handle), size=size, max_bytes=MAX_BATCH_BYTES, bad=bad):
            sender.send(batch)
        progress.update(bar, completed=total)
    report.print(as_json=as_json)
    if report.count(REJECTED):
        raise typer.Exit(ExitCode.LINES_REJECTED)
