"""Plain asyncpg connections from the engine's pool, for the hot paths.

The task table's busiest statements (group-committed submits, claims and successes) run
as prepared SQL on the driver's connection: the ORM's per-statement work costs more CPU
than the statements themselves.
"""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from db.errors import database_unavailable
from db.session import engine


@contextlib.asynccontextmanager
async def connection() -> AsyncIterator[Any]:
    """An asyncpg connection from the pool, outside any transaction: each statement commits
    on its own, so a write that is one statement costs one round trip, not three."""
    async with engine.connect() as pooled:
        fairy = await pooled.get_raw_connection()
        driver = fairy.driver_connection
        assert driver is not None
        try:
            yield driver
        except Exception as error:
            # The pool cannot see what happened on the driver's connection: one that broke
            # must not go back to it.
            if database_unavailable(error):
                await pooled.invalidate()
            raise


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[Any]:
    """An asyncpg connection from the pool, inside a transaction committed at the end of the
    block (rolled back if it raises)."""
    async with connection() as driver, driver.transaction():
        yield driver
