"""The options the HTTP commands share, and reading what a user types into JSON."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.exits import UsageError
from cli.http import Api

DEFAULT_URL = "http://127.0.0.1:8000"
CONNECTION = "Connection and output"

Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="TASKGATE_URL",
        help="The Taskgate API.",
        rich_help_panel=CONNECTION,
    ),
]
Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="TASKGATE_KEY",
        help="An API key, sent as `Authorization: Bearer <key>`.",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
AsJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the API's JSON (one document) instead of tables.",
        rich_help_panel=CONNECTION,
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
Limit = Annotated[
    int | None,
    typer.Option(
        help="Tasks per page, 1..1000 (default 100; 1000 with --all).", show_default=False
    ),
]
Cursor = Annotated[
    str | None, typer.Option(help="Start at this page: a `next_cursor` an earlier page gave.")
]
EveryPage = Annotated[bool, typer.Option("--all", help="Every page, not just the first.")]
Names = Annotated[list[str] | None, typer.Option("--name", help="A handler (repeatable).")]
Tenants = Annotated[
    list[str] | None,
    typer.Option("--tenant", help="A tenant (repeatable; an operator key's filter)."),
]
Moment = Annotated[str | None, typer.Option(help="ISO 8601 with a zone: 2026-01-31T12:00:00Z.")]


def connect(url: str, key: str | None) -> Api:
    """A client of the API at `url`, sending `key`."""
    return Api(url, key)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def strict_json(text: str) -> Any:
    """`text` as JSON, refusing NaN and Infinity; ValueError saying where it is wrong."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        where = f"column {error.colno}"
        if error.lineno > 1:
            where = f"line {error.lineno}, {where}"
        raise ValueError(f"{error.msg} ({where})") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


def parse_json(text: str, *, what: str) -> Any:
    """`text` as strict JSON; UsageError naming `what` otherwise."""
    try:
        return strict_json(text)
    except ValueError as error:
        raise UsageError(f"{what} is not JSON: {error}") from None


def payload_option(text: str | None, *, what: str = "--payload") -> dict[str, Any] | None:
    """A `--payload` value: a JSON object, or `@file` holding one."""
    if text is None:
        return None
    if text.startswith("@"):
        text = read_text(Path(text[1:]))
    value = parse_json(text, what=what)
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object ({{...}}), not {type(value).__name__}")
    return value


def read_text(path: Path) -> str:
    """A file's text; UsageError saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {why_unreadable(error)}") from None


def why_unreadable(error: Exception) -> str:
    """Why a file could not be read, in lower case (`no such file or directory`)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)


def filters(**values: Any) -> dict[str, Any]:
    """Query parameters or body fields from options, leaving out those not given."""
    # By identity: a priority of 0 is given (0 == False, but 0 is not False).
    return {
        name: value
        for name, value in values.items()
        if value is not None and value is not False and value != []
    }
