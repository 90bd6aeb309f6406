"""What an error answer of the API means, said in one line from its body."""

from typing import Any

# The first part of a 422's `loc` says where the field was sent, not which field it is.
SOURCES = frozenset({"body", "query", "path", "header"})
# A 422 names at most this many fields in its line.
SHOWN_FIELDS = 4
# A value the API echoes back is shown when it is this short.
SHOWN_INPUT_CHARS = 40


def detail_text(body: Any) -> str:
    """The `detail` of an error body as text (a 422's list: each field and what it needs)."""
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, list):
            return invalid_fields(detail)
        if detail is not None:
            return str(detail)
    return "" if body is None else str(body)


def field_name(loc: Any) -> str:
    """`["body", "tasks", 3, "payload", "seconds"]` → `tasks.3.payload.seconds`."""
    parts = [str(part) for part in loc] if isinstance(loc, list) else []
    if parts and parts[0] in SOURCES:
        parts = parts[1:]
    return ".".join(parts)


def field_problem(item: Any, *, skip: int = 0) -> str:
    """One 422 item: `priority: Input should be … (got 12)`, less `skip` parts of its loc."""
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc")
    name = ".".join(field_name(loc).split(".")[skip:]) if loc else ""
    message = str(item.get("msg", "invalid"))
    given = item.get("input")
    if isinstance(given, str | int | float) and not isinstance(given, bool):
        shown = repr(given)
        if len(shown) <= SHOWN_INPUT_CHARS:
            message = f"{message} (got {shown})"
    return f"{name}: {message}" if name else message


def invalid_fields(detail: list[Any]) -> str:
    """Every field a 422 names, and what it expected, in one line."""
    problems = [field_problem(item) for item in detail[:SHOWN_FIELDS]]
    more = len(detail) - SHOWN_FIELDS
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)


def describe(status: int, body: Any, *, retry_after: str | None, key_given: bool) -> str:
    """What went wrong, for a person, from an error answer's status and body."""
    detail = detail_text(body)
    later = f" (retry after {retry_after} s)" if retry_after else ""
    if status == 401:
        if not key_given:
            return f"no API key: pass --key or set TASKGATE_KEY (Taskgate says: {detail})"
        return f"the API key was refused: {detail}"
    if status == 403:
        return f"the API key lacks the role for this: {detail}"
    if status == 422:
        return f"invalid input: {detail}"
    if status == 429:
        return f"too many requests: {detail}{later}"
    if status == 503:
        return f"Taskgate is unavailable: {detail}{later}"
    if status >= 500:
        return f"Taskgate failed (HTTP {status}): {detail}"
    what = {400: "bad request", 404: "not found", 409: "conflict", 413: "too large"}
    return f"{what.get(status, f'HTTP {status}')}: {detail}"
