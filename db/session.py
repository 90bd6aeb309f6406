"""The process's database: one engine, one session factory, and plain driver connections
for the hot paths. Built by the process's assembly (the API's lifespan, the worker app),
never at import."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from config.settings import Settings
from db.failures import database_unavailable


class Database:
    """An engine with its pool, and the ways to use it."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
            # SQLAlchemy's pre-ping costs three round trips per checkout with asyncpg (begin,
            # select, rollback): more than a group-committed statement. `_skip_closed` does
            # its job for free.
            pool_pre_ping=False,
            connect_args=_driver_arguments(settings),
        )
        event.listen(self.engine.sync_engine.pool, "checkout", _skip_closed)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        """A new ORM session: one per unit of work (a request, a message)."""
        return self.sessions()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """An asyncpg connection from the pool, outside any transaction: each statement
        commits on its own, so a write that is one statement costs one round trip, not
        three. The task table's busiest statements run this way, as prepared SQL: the ORM's
        per-statement work costs more CPU than the statements themselves."""
        async with self.engine.connect() as pooled:
            fairy = await pooled.get_raw_connection()
            driver = fairy.driver_connection
            assert driver is not None
            try:
                yield driver
            except Exception as error:
                # The pool cannot see what happened on the driver's connection: one that
                # broke must not go back to it.
                if database_unavailable(error):
                    await pooled.invalidate()
                raise

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """An asyncpg connection from the pool, inside a transaction committed at the end of
        the block (rolled back if it raises)."""
        async with self.connection() as driver, driver.transaction():
            yield driver

    async def dispose(self) -> None:
        """Close every pooled connection (the process is shutting down)."""
        await self.engine.dispose()


def _driver_arguments(settings: Settings) -> dict[str, Any]:
    """asyncpg's arguments. Behind a pooler in transaction mode (DB_PGBOUNCER) a statement
    prepared under a name stays on the server connection its transaction ran on: the next
    transaction may get another (the name unknown there), or one that another client
    prepared the same name on (PgBouncer before 1.21 does not track names). Nothing is then
    prepared under a name: asyncpg's cache and SQLAlchemy's are off, and both send their
    statements unnamed, parsed again in the round trip that runs them."""
    if not settings.db_pgbouncer:
        return {}
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": _unnamed,
    }


def _unnamed() -> str:
    # The empty name is PostgreSQL's unnamed statement: asyncpg then parses it again with
    # the Bind that runs it, so it needs nothing the server connection kept.
    return ""


def _skip_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server closed (PostgreSQL restarted, or ended the backend)
    is not handed out: the pool replaces it with a new one. asyncpg learns of the close as
    soon as the event loop reads the socket's end, so no round trip is needed to find out.
    A connection that dies unannounced fails on its first statement instead, and
    `connection()` (or the session) takes it out of the pool."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")
