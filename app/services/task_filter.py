"""Which tasks a listing shows, and the keyset-paginated query that reads one page of them.

Every page is read newest first through an index whose order is (created_at DESC, id DESC)
after the filtered column: (created_at, id) alone, or (status|name|queue, created_at, id).
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select, tuple_, union_all
from sqlalchemy.orm import InstrumentedAttribute, aliased

from app.services.errors import InvalidFilterError
from app.services.pagination import Cursor
from db.models import Task


@dataclass(frozen=True)
class TaskFilter:
    """Tasks whose status, name and queue are each one of those given (any, when none is),
    created at or after `created_after` and before `created_before`."""

    statuses: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    created_after: datetime | None = None
    created_before: datetime | None = None

    def __post_init__(self) -> None:
        for field, moment in (
            ("created_after", self.created_after),
            ("created_before", self.created_before),
        ):
            if moment is not None and moment.tzinfo is None:
                raise InvalidFilterError(field, f"{field} must have a time zone")
        after, before = self.created_after, self.created_before
        if after is not None and before is not None and after >= before:
            raise InvalidFilterError(
                "created_after", "created_after must be earlier than created_before"
            )

    @classmethod
    def of(
        cls,
        *,
        statuses: Collection[str] = (),
        names: Collection[str] = (),
        queues: Collection[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> "TaskFilter":
        """A filter from any collections of values (repeats count once)."""
        return cls(
            statuses=frozenset(statuses),
            names=frozenset(names),
            queues=frozenset(queues),
            created_after=created_after,
            created_before=created_before,
        )

    def branches(self) -> list[list[ColumnElement[bool]]]:
        """The filter as a union of conjunctions, each one index can read in page order.

        (status, created_at, id) keeps each status's tasks apart, so PostgreSQL cannot read
        `status IN (a, b)` from it in created_at order: it would walk the (created_at, id)
        index discarding rows, or fetch every match and sort them. One branch per value of
        the filtered column with the fewest values is one ordered index scan each, merged.
        """
        common: list[ColumnElement[bool]] = []
        if self.created_after is not None:
            common.append(Task.created_at >= self.created_after)
        if self.created_before is not None:
            common.append(Task.created_at < self.created_before)
        multiple: list[tuple[InstrumentedAttribute[str], list[str]]] = []
        for column, values in (
            (Task.status, self.statuses),
            (Task.name, self.names),
            (Task.queue, self.queues),
        ):
            if len(values) == 1:
                common.append(column == next(iter(values)))
            elif values:
                multiple.append((column, sorted(values)))
        if not multiple:
            return [common]
        split_column, split_values = min(multiple, key=lambda item: len(item[1]))
        common.extend(
            column.in_(values) for column, values in multiple if column is not split_column
        )
        return [[split_column == value, *common] for value in split_values]


def newest_first(query: Select[Any], *, after: Cursor | None, size: int) -> Select[Any]:
    """`query`'s tasks newest first, up to `size` of them, from just after `after`."""
    if after is not None:
        query = query.where(tuple_(Task.created_at, Task.id) < (after.created_at, after.id))
    return query.order_by(Task.created_at.desc(), Task.id.desc()).limit(size)


def page_query(task_filter: TaskFilter, *, after: Cursor | None, size: int) -> Select[Any]:
    """Up to `size` tasks matching `task_filter`, newest first, from just after `after`."""

    branches = [
        newest_first(select(Task).where(*conditions), after=after, size=size)
        for conditions in task_filter.branches()
    ]
    if len(branches) == 1:
        return branches[0]
    # Each branch is limited to a page and already in order: PostgreSQL merges them (Merge
    # Append) and stops once the page is full.
    matching = aliased(Task, union_all(*branches).subquery("matching"))
    return select(matching).order_by(matching.created_at.desc(), matching.id.desc()).limit(size)
