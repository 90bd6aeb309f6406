"""Which errors mean "PostgreSQL cannot be reached now" (the API answers 503 with
Retry-After, the worker pauses and requeues) and which are something else."""

import pytest
from asyncpg import exceptions as pg
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from db.failures import database_unavailable, deadlock_detected
from tests.support.api import SUBMIT


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


@pytest.mark.parametrize(
    "error",
    [
        # What a submit met while PostgreSQL restarted (the driver's own protocol error).
        pg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
        PoolTimeoutError("QueuePool limit of size 4 overflow 4 reached"),
    ],
)
async def test_the_api_answers_an_outage_the_driver_or_the_pool_raise_with_a_503(
    client, api_runtime, monkeypatch, error
) -> None:
    # Given a submit that meets an outage error that derives from no other database error
    async def outage(**_: object) -> None:
        raise error

    monkeypatch.setattr(api_runtime.submitter, "submit_task", outage)

    # When a task is submitted
    response = await client.post(SUBMIT, json={"name": "echo"})

    # Then the answer is a 503 to retry, not a 500
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
