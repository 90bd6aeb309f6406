"""The correlation of what a process does: the request it serves, the task it works on and
that task's tenant, kept in context variables (each asyncio task has its own copy) and read
by the log filter and by the outbox, which hands them on with each task's message."""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("taskgate_request_id", default=None)
task_id: ContextVar[str | None] = ContextVar("taskgate_task_id", default=None)
tenant: ContextVar[str | None] = ContextVar("taskgate_tenant", default=None)


@contextlib.contextmanager
def correlated(
    *, request: str | None = None, task: str | None = None, tenant_name: str | None = None
) -> Iterator[None]:
    """Within the block, log lines carry these ids (None: not known); the values before it
    come back after it, whatever was set inside."""
    tokens = (request_id.set(request), task_id.set(task), tenant.set(tenant_name or None))
    try:
        yield
    finally:
        tenant.reset(tokens[2])
        task_id.reset(tokens[1])
        request_id.reset(tokens[0])


def note_tenant(name: str) -> None:
    """The tenant the current request (or task) turned out to act for."""
    if name:
        tenant.set(name)
