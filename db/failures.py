"""Telling "the database is unreachable right now" apart from every other error."""

from asyncpg import exceptions as pg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# Raised while PostgreSQL restarts, refuses connections, or drops them.
_UNAVAILABLE = (
    OSError,  # connection refused or reset
    TimeoutError,
    # No pooled connection came free in time: while PostgreSQL restarts, every connection
    # of the pool may be waiting on it.
    PoolTimeoutError,
    pg.PostgresConnectionError,
    pg.OperatorInterventionError,  # shutting down, starting up
    pg.TooManyConnectionsError,
    pg.InterfaceError,  # connection closed under a query
    pg.InternalClientError,  # the protocol broke off mid-statement (server shutting down)
)


# Every error the database layer raises, outages among them: what an HTTP handler of
# database errors must be registered for (it then asks `database_unavailable`). Some of
# the outages derive from none of the others (a pool timeout, the driver's own protocol
# errors), so they are listed here too, not in a second list that could miss one.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, pg.PostgresError, *_UNAVAILABLE)


def database_unavailable(error: BaseException) -> bool:
    """True when `error` (or what caused it) says PostgreSQL cannot be reached now."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return _caused_by(error, _UNAVAILABLE)


def deadlock_detected(error: BaseException) -> bool:
    """True when PostgreSQL aborted the statement (`error` or what caused it) to break a
    deadlock: running it again is safe."""
    return _caused_by(error, (pg.DeadlockDetectedError,))


def _caused_by(error: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether `error`, or an error down its chain of causes, is one of `kinds` (the
    driver's errors arrive wrapped by SQLAlchemy's)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__
    return False
