"""Requests per key: a token bucket per key, kept in PostgreSQL so that every API process
draws on the same one (README: Limits).

Each process leases tokens in small batches (a tenth of a second's worth at the key's rate)
and spends them locally: a request costs a database round trip only once per batch, and
however many processes there are, no key gets more than its burst plus its rate over time
(a process may hold at most one batch that it has not spent yet). When the bucket is
empty, the process answers 429 without asking the database again until a token is due.
"""

import asyncio
import math
import time
import uuid

from db.keys import Lease, lease_tokens
from db.session import Database
from services.errors import RateLimitedError

LEASE_SECONDS = 0.1


class RateLimiter:
    """Admits a key's requests while its bucket holds tokens."""

    def __init__(self, *, database: Database, rate: float, burst: int) -> None:
        self.enabled = rate > 0
        self._database = database
        self._rate = rate
        self._burst = burst
        self._batch = max(1, min(burst, math.ceil(rate * LEASE_SECONDS)))
        self._held: dict[uuid.UUID, int] = {}
        self._empty_until: dict[uuid.UUID, float] = {}
        self._leasing: dict[uuid.UUID, asyncio.Future[None]] = {}

    async def admit(self, key_id: uuid.UUID) -> None:
        """Spend one of the key's tokens; RateLimitedError if it has none."""
        if not self.enabled:
            return
        while True:
            if self._held.get(key_id, 0) > 0:
                self._held[key_id] -= 1
                return
            wait = self._empty_until.get(key_id, 0.0) - time.monotonic()
            if wait > 0:
                raise RateLimitedError(retry_after=max(1, math.ceil(wait)))
            pending = self._leasing.get(key_id)
            if pending is not None:
                # One lease at a time per key: the others wait for it, then look again.
                await asyncio.shield(pending)
                continue
            await self._lease(key_id)

    async def _lease(self, key_id: uuid.UUID) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._leasing[key_id] = done
        try:
            async with self._database.connection() as connection:
                lease: Lease = await lease_tokens(
                    connection=connection,
                    key_id=key_id,
                    rate=self._rate,
                    burst=self._burst,
                    wanted=self._batch,
                )
            if lease.granted:
                self._held[key_id] = self._held.get(key_id, 0) + lease.granted
            else:
                self._empty_until[key_id] = time.monotonic() + (1 - lease.left) / self._rate
        finally:
            del self._leasing[key_id]
            done.set_result(None)
