"""Stopping a running attempt on request, in the worker process that runs it."""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator

logger = logging.getLogger(__name__)


class CancelRequests:
    """The handler calls running in this process, by task id, and which were asked to stop.

    A request arrives by the cancel signal (fanout exchange) or, should the signal go astray,
    by the lease renewal that finds the task's cancel_requested_at set.
    """

    def __init__(self) -> None:
        self._running: dict[uuid.UUID, asyncio.Future[object]] = {}
        self._requested: set[uuid.UUID] = set()

    @contextlib.contextmanager
    def running(self, task_id: uuid.UUID, call: asyncio.Future[object]) -> Iterator[None]:
        """Let `call` be stopped by a request for `task_id` while in the block."""
        self._running[task_id] = call
        try:
            yield
        finally:
            self._running.pop(task_id, None)
            self._requested.discard(task_id)

    def request(self, task_id: uuid.UUID) -> bool:
        """Stop the task's call if this process runs it; whether it did."""
        call = self._running.get(task_id)
        if call is None or task_id in self._requested:
            return False
        logger.info("cancelling task %s on request", task_id)
        self._requested.add(task_id)
        call.cancel()
        return True

    def requested(self, task_id: uuid.UUID) -> bool:
        """Whether the task's running call was stopped by a request."""
        return task_id in self._requested
