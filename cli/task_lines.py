"""Tasks from a JSON Lines file, one submit body a line, gathered into batches."""

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from cli.exits import UsageError
from cli.options import strict_json, why_unreadable

STDIN = "-"


@dataclass(frozen=True)
class TaskLine:
    """A line that holds a task: its number (from 1), the task, and its size as JSON."""

    number: int
    task: dict[str, Any]
    size: int

    @property
    def keyed(self) -> bool:
        """Whether it carries an idempotency key (so it may stand for an earlier task)."""
        return self.task.get("idempotency_key") is not None


@dataclass(frozen=True)
class BadLine:
    """A line that holds no task, and why."""

    number: int
    reason: str


def open_tasks(path: str) -> tuple[IO[bytes], int | None]:
    """The file (`-`: stdin) and its number of lines, if it can be counted first."""
    if path == STDIN:
        return sys.stdin.buffer, None
    try:
        handle = open(path, "rb")  # noqa: SIM115 (the caller closes it, after every batch)
        total = sum(1 for _ in handle)
        handle.seek(0)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {why_unreadable(error)}") from None
    return handle, total


def parse_line(number: int, raw: bytes) -> TaskLine | BadLine | None:
    """A line of the file: a task, a line that holds none, or None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return BadLine(number, f"not UTF-8 (byte {error.start + 1})")
    if not text.strip():
        return None
    try:
        task = strict_json(text)
    except ValueError as error:
        return BadLine(number, f"not JSON: {error}")
    if not isinstance(task, dict):
        return BadLine(number, f"a task is a JSON object ({{...}}), not {type(task).__name__}")
    return TaskLine(number, task, len(raw))


def read_lines(handle: IO[bytes]) -> Iterator[TaskLine | BadLine]:
    """Every line that is not blank, in order."""
    for number, raw in enumerate(handle, start=1):
        parsed = parse_line(number, raw)
        if parsed is not None:
            yield parsed


def batches(
    lines: Iterable[TaskLine | BadLine],
    *,
    size: int,
    max_bytes: int,
    bad: Callable[[BadLine], None],
) -> Iterator[list[TaskLine]]:
    """Tasks in batches of `size` and about `max_bytes`; a line with no task goes to `bad`."""
    batch: list[TaskLine] = []
    held = 0
    for line in lines:
        if isinstance(line, BadLine):
            bad(line)
            continue
        if batch and (len(batch) >= size or held + line.size > max_bytes):
            yield batch
            batch, held = [], 0
        batch.append(line)
        held += line.size
    if batch:
        yield batch
