"""Group commit: many concurrent requests served by one database round trip.

The first request starts a flush at once; requests that arrive while it runs wait for the
next one, which takes all of them. Under light load a request costs what it did alone;
under heavy load each flush carries up to `max_batch` of them, so the per-request cost of
statements, transactions and commits falls with the load. `in_flight` lets that many
flushes run at once: a burst then need not wait out the whole round trip of the one before
(a broker's confirm, say), at the price of smaller batches.
"""

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from db.failures import deadlock_detected

logger = logging.getLogger(__name__)

Request = TypeVar("Request")
Result = TypeVar("Result")

# Batches lock their rows in id order, but a statement of another kind may not: a
# deadlock aborts one side, which then simply runs again.
DEADLOCK_RETRIES = 3


class Coalescer(Generic[Request, Result]):
    """Calls `flush(requests)` (one result per request, in order) for whatever requests
    are waiting, up to `in_flight` flushes at a time."""

    def __init__(
        self,
        flush: Callable[[list[Request]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int = 500,
        in_flight: int = 1,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._waiting: list[tuple[Request, asyncio.Future[Result]]] = []
        self._runners: set[asyncio.Task[None]] = set()

    async def submit(self, request: Request) -> Result:
        """The result of `request`, from the next flush; a flush's error is raised here."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        # A runner that has finished is not counted even before its done-callbacks ran: a
        # request made in between would otherwise wait for the next one to be flushed.
        self._runners = {runner for runner in self._runners if not runner.done()}
        if len(self._runners) < self._in_flight:
            # A context of its own: a flush serves many requests, so it must not carry the
            # correlation (log ids, trace) of the one that happened to start it.
            self._runners.add(asyncio.create_task(self._run(), context=contextvars.Context()))
        # Shielded: once taken into a flush, a request is carried out even if its caller
        # is cancelled (a worker shutting down), like a statement already sent.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                results = await self._flush_retrying([request for request, _ in batch])
            except BaseException as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _flush_retrying(self, requests: list[Request]) -> Sequence[Result]:
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                return await self._flush(requests)
            except Exception as error:
                if not deadlock_detected(error) or attempt == DEADLOCK_RETRIES:
                    raise
                logger.info("group commit hit a deadlock; running it again")
        raise AssertionError("unreachable")
