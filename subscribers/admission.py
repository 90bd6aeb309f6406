"""Which waiting task a worker starts next: priority bands drained by weight.

A worker holds messages from every band of its queues at once (each band's consumer has its
own prefetch), but runs at most `slots` of them. When a slot frees, it goes to a waiting band
picked by smooth weighted round robin: with high, normal and low all waiting, six of every
ten starts are high, three normal, one low. A high task never waits behind a backlog of low
ones, and a low one is never starved.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Mapping

from publishers.topology import Band

BAND_WEIGHTS: Mapping[Band, int] = {Band.HIGH: 6, Band.NORMAL: 3, Band.LOW: 1}


class AdmissionGate:
    """At most `slots` tasks run at once; the next slot goes to a band chosen by weight."""

    def __init__(self, slots: int, weights: Mapping[Band, int] = BAND_WEIGHTS) -> None:
        self._free = slots
        self._weights = dict(weights)
        self._credit = dict.fromkeys(weights, 0)
        self._waiting: dict[Band, deque[asyncio.Future[None]]] = {band: deque() for band in weights}

    @contextlib.asynccontextmanager
    async def slot(self, band: Band) -> AsyncIterator[None]:
        """Wait for a slot (behind higher bands, by weight), hold it for the block."""
        await self._acquire(band)
        try:
            yield
        finally:
            self._release()

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    async def _acquire(self, band: Band) -> None:
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting[band].append(turn)
        self._grant()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # granted, then cancelled: pass the slot on
            else:
                # Gone already if a grant passed over it (see _grant).
                with contextlib.suppress(ValueError):
                    self._waiting[band].remove(turn)
            raise

    def _release(self) -> None:
        self._free += 1
        self._grant()

    def _grant(self) -> None:
        """Hand free slots to waiting bands by weight."""
        while self._free > 0:
            # A cancelled waiter's future is cancelled at once, its own cleanup runs later:
            # a lost broker connection cancels every waiting delivery together, and a slot
            # given to one of them would be lost for good.
            for queue in self._waiting.values():
                while queue and queue[0].done():
                    queue.popleft()
            band = self._next_band()
            if band is None:
                return
            self._free -= 1
            self._waiting[band].popleft().set_result(None)

    def _next_band(self) -> Band | None:
        waiting = [band for band, queue in self._waiting.items() if queue]
        if not waiting:
            return None
        for band in waiting:
            self._credit[band] += self._weights[band]
        chosen = max(waiting, key=lambda band: self._credit[band])
        self._credit[chosen] -= sum(self._weights[band] for band in waiting)
        return chosen
