"""Sending a file's tasks in batches, and telling what became of each line.

A batch is recorded whole or not at all: the API answers a 422 naming each invalid task by
its index, or a 409 naming each idempotency key that stands for a different request. Those
lines are rejected and the rest sent again. An item whose key was seen answers with the
task the key stands for, `created: false`.
"""

import time
from collections.abc import Callable, Sequence
from typing import Any

from cli.exits import CliError
from cli.file_report import Report
from cli.http import API, Api, ApiError, Unreachable
from cli.problems import field_name, field_problem
from cli.task_lines import TaskLine

BATCH = f"{API}/queue/batch"
OPENAPI = "/openapi.json"
# The API's MAX_BATCH_SIZE by default, when its OpenAPI document does not say.
DEFAULT_BATCH_SIZE = 1000
# JSON per request: under the API's MAX_REQUEST_BYTES by default (1 MiB), with room to
# spare; a deployment with a lower limit answers 413, and the batch is halved.
MAX_BATCH_BYTES = 1_000_000
# Times one batch is sent again after a 429 or a 503, waiting out its Retry-After.
RETRIES = 5
LONGEST_PAUSE = 30.0


def batch_limit(api: Api) -> int:
    """The most tasks the API takes in one batch, as its OpenAPI document says."""
    try:
        document = api.get(OPENAPI)
        schema = document["components"]["schemas"]["BatchSubmit"]
        return int(schema["properties"]["tasks"]["maxItems"])
    except (ApiError, KeyError, TypeError, ValueError):
        return DEFAULT_BATCH_SIZE


def _pause(error: ApiError) -> float:
    try:
        return min(float(error.retry_after or 1), LONGEST_PAUSE)
    except ValueError:
        return 1.0


def _item_problems(detail: Any) -> dict[int, list[str]] | None:
    """A 422's problems by task index; None if one is about the batch as a whole."""
    if not isinstance(detail, list) or not detail:
        return None
    problems: dict[int, list[str]] = {}
    for item in detail:
        loc = field_name(item.get("loc") if isinstance(item, dict) else None).split(".")
        if len(loc) < 2 or loc[0] != "tasks" or not loc[1].isdigit():
            return None
        problems.setdefault(int(loc[1]), []).append(field_problem(item, skip=2))
    return problems


class Sender:
    """Sends batches of lines, and records each line's outcome in `report`."""

    def __init__(self, api: Api, report: Report, settled: Callable[[int], None]) -> None:
        self._api = api
        self._report = report
        self._settled = settled
        # Each task seen, by id: the first line that stood for it.
        self._lines_of: dict[str, int] = {}

    def send(self, lines: Sequence[TaskLine]) -> None:
        """Submit the lines' tasks; those the API refuses are rejected, the rest sent again."""
        pending, tries = list(lines), 0
        while pending:
            try:
                _, answer = self._api.exchange(
                    "POST", BATCH, body={"tasks": [line.task for line in pending]}
                )
            except ApiError as error:
                if error.status in (429, 503) and tries < RETRIES:
                    tries += 1
                    time.sleep(_pause(error))
                    continue
                pending = self._without_refused(pending, error)
                continue
            except Unreachable as error:
                first, last = pending[0].number, pending[-1].number
                raise CliError(
                    f"{error} (lines {first} to {last} may or may not have been recorded; "
                    f"so far {self._report.counts()})"
                ) from None
            self._record(pending, answer["items"])
            return

    def _without_refused(self, lines: list[TaskLine], error: ApiError) -> list[TaskLine]:
        """The lines to send again once those the API refused are rejected."""
        body = error.body if isinstance(error.body, dict) else {}
        problems = _item_problems(body.get("detail")) if error.status == 422 else None
        if error.status == 413 or (error.status == 422 and problems is None):
            if len(lines) > 1:
                middle = len(lines) // 2
                self.send(lines[:middle])
                self.send(lines[middle:])
            else:
                self._reject(lines[0], str(error))
            return []
        if problems is not None:
            return self._reject_some(lines, {i: "; ".join(p) for i, p in problems.items()})
        conflicts = body.get("conflicts") if error.status == 409 else None
        if isinstance(conflicts, list) and conflicts:
            reasons = {
                int(item["index"]): f"idempotency key {item['idempotency_key']!r} {item['msg']}"
                for item in conflicts
            }
            return self._reject_some(lines, reasons)
        raise CliError(
            f"{error} (stopped at line {lines[0].number}; so far {self._report.counts()})"
        ) from None

    def _reject_some(self, lines: list[TaskLine], reasons: dict[int, str]) -> list[TaskLine]:
        for index, reason in reasons.items():
            self._reject(lines[index], reason)
        return [line for index, line in enumerate(lines) if index not in reasons]

    def _reject(self, line: TaskLine, reason: str) -> None:
        self._report.rejected(line.number, reason)
        self._settled(1)

    def _record(self, lines: list[TaskLine], items: list[dict[str, Any]]) -> None:
        if len(items) != len(lines):
            raise CliError(f"the API answered a batch of {len(lines)} with {len(items)} tasks")
        for line, item in zip(lines, items, strict=True):
            task_id = str(item["id"])
            first = self._lines_of.setdefault(task_id, line.number)
            if first != line.number:
                self._report.duplicate(line.number, task_id, f"the same task as line {first}")
            elif not item.get("created", True):
                self._report.duplicate(
                    line.number, task_id, f"its idempotency key's task exists ({item['status']})"
                )
            else:
                self._report.accepted(line.number, task_id)
        self._settled(len(lines))
