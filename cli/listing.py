"""Listings (tasks, schedules, deliveries): one page, or every page by following
`next_cursor`, printed as JSON or as a table."""

from collections.abc import Callable
from typing import Any

from rich.table import Table

from cli.http import Api
from cli.output import note, print_json, show, task_rows

PAGE = 100
# Pages of this many when every page is read: the API's largest.
LARGEST_PAGE = 1000


def read_pages(
    api: Api,
    path: str,
    params: dict[str, Any],
    *,
    limit: int | None,
    cursor: str | None,
    every_page: bool,
) -> dict[str, Any]:
    """One page of a listing, or every page from `cursor` on as one page (no next_cursor)."""
    query = {**params, "limit": limit or (LARGEST_PAGE if every_page else PAGE)}
    if cursor:
        query["cursor"] = cursor
    page: dict[str, Any] = api.get(path, query)
    if not every_page:
        return page
    items = list(page["items"])
    while page.get("next_cursor"):
        page = api.get(path, {**query, "cursor": page["next_cursor"]})
        items.extend(page["items"])
    return {"items": items, "next_cursor": None}


def print_page(
    page: dict[str, Any],
    *,
    as_json: bool,
    rows: Callable[[list[dict[str, Any]]], Table],
    one: str,
    many: str,
) -> None:
    """A page as JSON, or as the table `rows` makes of its items, with a count on stderr
    (`one`/`many` name an item) and a hint when more pages follow."""
    if as_json:
        print_json(page)
        return
    items = page.get("items", [])
    show(rows(items))
    count = f"{len(items)} {one if len(items) == 1 else many}"
    if page.get("next_cursor"):
        note(f"{count}; more follow: add --cursor {page['next_cursor']} (or --all)")
    else:
        note(count)


def print_listing(page: dict[str, Any], *, as_json: bool, dead: bool = False) -> None:
    """A page of tasks as JSON, or as a table (dead ones with when and of what they died)."""
    print_page(
        page,
        as_json=as_json,
        rows=lambda tasks: task_rows(tasks, dead=dead),
        one="task",
        many="tasks",
    )
