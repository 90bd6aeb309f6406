"""Which errors mean "PostgreSQL cannot be reached now" (the API answers 503 with
Retry-After, the worker pauses and requeues) and which are something else."""

import pytest
from asyncpg import exceptions as pg
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from db.failures import database_unavailable, deadlock_detected


def _wrapped(error: BaseException) -> BaseException:
    """As SQLAlchemy raises a driver's error: the driver's is the cause."""
    try:
        raise RuntimeError("wrapped") from error
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError("refused"),
        TimeoutError(),
        PoolTimeoutError("QueuePool limit of size 4 overflow 4 reached"),
        pg.CannotConnectNowError("the database system is starting up"),
        pg.TooManyConnectionsError("sorry, too many clients already"),
    ],
)
def test_an_unreachable_database_is_told_apart_also_when_wrapped(error: BaseException) -> None:
    assert database_unavailable(error)
    assert database_unavailable(_wrapped(error))


@pytest.mark.parametrize(
    "error", [ValueError("bad"), pg.UniqueViolationError("duplicate"), pg.DeadlockDetectedError()]
)
def test_other_errors_are_not_an_outage(error: BaseException) -> None:
    assert not database_unavailable(error)


def test_a_deadlock_is_told_apart() -> None:
    assert deadlock_detected(_wrapped(pg.DeadlockDetectedError()))
    assert not deadlock_detected(ValueError())
