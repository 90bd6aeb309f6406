"""Which tasks a listing, a replay or a purge selects, as WHERE conditions."""

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

from db.models import Task, TaskStatus


@dataclass(frozen=True)
class TaskFilter:
    """Tasks of one of `tenants`, whose status, name and queue are each one of those given
    (any, when none is), created at or after `created_after` and before `created_before`,
    made by the schedule `schedule_id` (if given)."""

    tenants: frozenset[str]
    statuses: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    created_after: datetime | None = None
    created_before: datetime | None = None
    schedule_id: uuid.UUID | None = None

    @classmethod
    def of(
        cls,
        *,
        tenants: Collection[str],
        statuses: Collection[str] = (),
        names: Collection[str] = (),
        queues: Collection[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        schedule_id: uuid.UUID | None = None,
    ) -> "TaskFilter":
        """A filter from any collections of values (repeats count once)."""
        return cls(
            tenants=frozenset(tenants),
            statuses=frozenset(statuses),
            names=frozenset(names),
            queues=frozenset(queues),
            created_after=created_after,
            created_before=created_before,
            schedule_id=schedule_id,
        )

    def branches(self) -> list[list[ColumnElement[bool]]]:
        """The filter as a union of conjunctions, each one index can read in page order.

        (tenant, status, created_at, id) keeps each tenant's and each status's tasks apart,
        so PostgreSQL cannot read `status IN (a, b)` from it in created_at order: it would
        walk the index discarding rows, or fetch every match and sort them. One branch per
        tenant and per value of the filtered column with the fewest values is one ordered
        index scan each, merged.
        """
        common: list[ColumnElement[bool]] = []
        # Read through (tenant, schedule_id, created_at, id), a schedule's tasks only.
        if self.schedule_id is not None:
            common.append(Task.schedule_id == self.schedule_id)
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
            return _per_tenant(self.tenants, [common])
        split_column, split_values = min(multiple, key=lambda item: len(item[1]))
        common.extend(
            column.in_(values) for column, values in multiple if column is not split_column
        )
        return _per_tenant(
            self.tenants, [[split_column == value, *common] for value in split_values]
        )


def _per_tenant(
    tenants: frozenset[str], branches: list[list[ColumnElement[bool]]]
) -> list[list[ColumnElement[bool]]]:
    """Each branch once per tenant, with the tenant's equality in front."""
    return [[Task.tenant == tenant, *branch] for tenant in sorted(tenants) for branch in branches]


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead tasks: every condition given must hold; none given means all of them.
    `tenants` None: of every tenant (an operator's filter)."""

    tenants: frozenset[str] | None = None
    names: Sequence[str] = ()
    # A case-insensitive substring of the error; `%` and `_` in it are literal.
    error: str | None = None
    # finished_at strictly after / strictly before.
    died_after: datetime | None = None
    died_before: datetime | None = None

    @property
    def is_empty(self) -> bool:
        """No condition at all: every dead task the caller may see."""
        return not (self.names or self.error or self.died_after or self.died_before or self.tenants)

    def within(self, tenants: frozenset[str] | None) -> "DeadLetterFilter":
        """This filter, for `tenants` only (None: every tenant)."""
        return replace(self, tenants=tenants)

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE conditions selecting these dead tasks."""
        conditions: list[ColumnElement[bool]] = [Task.status == TaskStatus.DEAD]
        if self.tenants is not None:
            conditions.append(Task.tenant.in_(self.tenants))
        if self.names:
            conditions.append(Task.name.in_(self.names))
        if self.error:
            conditions.append(Task.error.icontains(self.error, autoescape=True))
        if self.died_after is not None:
            conditions.append(Task.finished_at > self.died_after)
        if self.died_before is not None:
            conditions.append(Task.finished_at < self.died_before)
        return conditions
