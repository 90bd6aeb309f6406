"""`taskgate webhooks create|ls|rm|deliveries`: webhooks over the HTTP API."""

import uuid
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cli.http import API
from cli.listing import print_page, read_pages
from cli.options import DEFAULT_URL, AsJson, Cursor, EveryPage, Key, Limit, Url, connect
from cli.output import moment, note, print_json, say, show, status_text, table

WEBHOOKS = f"{API}/webhooks"
EVENTS = ("task.succeeded", "task.dead", "task.cancelled")

app = typer.Typer(
    help="Webhooks: your URL is POSTed each task event you name, signed with its secret.",
    no_args_is_help=True,
)

WebhookId = Annotated[uuid.UUID, typer.Argument(metavar="ID", help="The webhook's id.")]
Events = Annotated[
    list[str] | None,
    typer.Option(
        "--event",
        help=f"An event to POST: {', '.join(EVENTS)} (repeatable; default: all three).",
    ),
]


@app.command("create")
def create(
    target: Annotated[str, typer.Argument(metavar="URL", help="Where to POST: http(s)://…")],
    event: Events = None,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Make a webhook; its secret is printed once, alone on the last line."""
    with connect(url, key) as api:
        made = api.json("POST", WEBHOOKS, body={"url": target, "events": event or list(EVENTS)})
    if as_json:
        print_json(made)
        return
    say(
        f"made webhook {made['id']} ({', '.join(made['events'])} to {made['url']}); its "
        "signing secret follows and is not shown again"
    )
    print(made["secret"])


@app.command("ls")
def list_webhooks(url: Url = DEFAULT_URL, key: Key = None, as_json: AsJson = False) -> None:
    """List the webhooks of the key's tenant, newest first (never their secrets)."""
    with connect(url, key) as api:
        found = api.get(WEBHOOKS)
    if as_json:
        print_json(found)
        return
    shown = table("id", "url", "events", "tenant", "created")
    for webhook in found:
        shown.add_row(
            Text(str(webhook["id"])),
            Text(str(webhook["url"])),
            Text(", ".join(webhook["events"])),
            Text(str(webhook["tenant"])),
            Text(moment(webhook["created_at"])),
        )
    show(shown)
    note(f"{len(found)} webhook{'' if len(found) == 1 else 's'}")


@app.command("rm")
def remove(webhook_id: WebhookId, url: Url = DEFAULT_URL, key: Key = None) -> None:
    """Delete a webhook: its deliveries not yet made are never made."""
    with connect(url, key) as api:
        api.request("DELETE", f"{WEBHOOKS}/{webhook_id}")
    say(f"deleted webhook {webhook_id}")


@app.command("deliveries")
def deliveries(
    webhook_id: WebhookId,
    limit: Limit = None,
    cursor: Cursor = None,
    every_page: EveryPage = False,
    url: Url = DEFAULT_URL,
    key: Key = None,
    as_json: AsJson = False,
) -> None:
    """List a webhook's deliveries, newest first: status, attempts, the last one's answer."""
    with connect(url, key) as api:
        page = read_pages(
            api,
            f"{WEBHOOKS}/{webhook_id}/deliveries",
            {},
            limit=limit,
            cursor=cursor,
            every_page=every_page,
        )
    print_page(page, as_json=as_json, rows=_delivery_rows, one="delivery", many="deliveries")


def _delivery_rows(deliveries: list[dict[str, Any]]) -> Table:
    shown = table("occurred", "event", "task", "status", "attempts", "last answer", "next")
    for delivery in deliveries:
        shown.add_row(
            Text(moment(delivery["occurred_at"])),
            Text(str(delivery["event"])),
            Text(str(delivery["task_id"])),
            status_text(delivery["status"]),
            Text(str(delivery["attempts"])),
            Text(_last_answer(delivery["attempt_log"])),
            Text(moment(delivery["next_attempt_at"])),
        )
    return shown


def _last_answer(attempts: list[dict[str, Any]]) -> str:
    """The last attempt: its status code and error, in a line."""
    if not attempts:
        return ""
    last = attempts[-1]
    parts = [str(last["status_code"])] if last["status_code"] is not None else []
    if last["error"]:
        parts.append(" ".join(str(last["error"]).split()))
    return " ".join(parts)
