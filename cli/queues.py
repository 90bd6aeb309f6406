"""`taskgate queues show|pause|resume|set`: a named queue's controls over the HTTP API."""

from typing import Annotated, Any

import typer

from cli.exits import UsageError
from cli.http import API
from cli.options import DEFAULT_URL, AsJson, Key, Url, connect
from cli.output import print_json, say

QUEUES = f"{API}/queues/"
# The word that turns a limit off.
OFF = "off"

app = typer.Typer(
    help="A named queue's controls: pause, resume, concurrency and rate limits.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="QUEUE", help="A named queue, e.g. default.")]
Tenant = Annotated[
    str | None, typer.Option(help="An operator key's choice of tenant (default: the key's).")
]
Limit = Annotated[
    str | None,
    typer.Option(metavar="N|off", help="A whole number of 1 or more, or `off`."),
]
Rate = Annotated[
    str | None,
    typer.Option("--rate", metavar="PER_SECOND|off", help="Starts per second, or `off`."),
]


def _limit(text: str | None, option: str, *, whole: bool) -> int | float | None:
    """The limit an option gives (None: off); UsageError naming the option otherwise."""
    if text is None or text.lower() == OFF:
        return None
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise UsageError(f"{option} takes {kind} or `off`, not {text!r}") from None
    if value <= 0 or value != value:
        raise UsageError(f"{option} must be more than 0 (or `off`), not {text!r}")
    return value


def _show(controls: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(controls)
        return

    def limit(value: Any) -> str:
        return OFF if value is None else str(value)

    held = ", ".join(f"{n} by {why}" for why, n in controls["held"].items()) or "none"
    say(
        f"queue {controls['name']} (tenant {controls['tenant'] or '-'}): "
        f"{'paused' if controls['paused'] else 'running'}; "
        f"concurrency {limit(controls['concurrency_limit'])}, "
        f"per key {limit(controls['key_concurrency_limit'])}, "
        f"rate {limit(controls['rate_limit_per_second'])}/s; "
        f"running {controls['running']}, waiting {controls['waiting']}, held {held}"
    )


def _change(
    name: str, changes: dict[str, Any], tenant: str | None, url: str, key: str | None
) -> Any:
    params = {"tenant": tenant} if tenant else None
    with connect(url, key) as api:
        return api.json("PATCH", f"{QUEUES}{name}", body=changes, params=params)


@app.command("show")
def show_queue(
    name: Name,
    tenant: Tenant = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Show a queue's controls and its running, waiting and held tasks."""
    params = {"tenant": tenant} if tenant else None
    with connect(url, key) as api:
        _show(api.get(f"{QUEUES}{name}", params), as_json)


@app.command("pause")
def pause(
    name: Name,
    tenant: Tenant = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Pause a queue: it still takes tasks; none starts until it is resumed."""
    _show(_change(name, {"paused": True}, tenant, url, key), as_json)


@app.command("resume")
def resume(
    name: Name,
    tenant: Tenant = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Resume a paused queue: its held tasks start."""
    _show(_change(name, {"paused": False}, tenant, url, key), as_json)


@app.command("set")
def set_limits(
    name: Name,
    concurrency: Annotated[
        str | None, typer.Option(metavar="N|off", help="Tasks running at once.")
    ] = None,
    per_key: Annotated[
        str | None, typer.Option(metavar="N|off", help="Tasks of one concurrency key at once.")
    ] = None,
    rate: Rate = None,
    tenant: Tenant = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Set a queue's limits (across every worker); `off` removes one."""
    changes: dict[str, Any] = {}
    if concurrency is not None:
        changes["concurrency_limit"] = _limit(concurrency, "--concurrency", whole=True)
    if per_key is not None:
        changes["key_concurrency_limit"] = _limit(per_key, "--per-key", whole=True)
    if rate is not None:
        changes["rate_limit_per_second"] = _limit(rate, "--rate", whole=False)
    if not changes:
        raise UsageError("give --concurrency, --per-key or --rate (a number, or off)")
    _show(_change(name, changes, tenant, url, key), as_json)
