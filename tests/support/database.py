"""The tests' own connection to the test database, for what the API cannot show."""

from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from db.session import Database
from tests.support.settings import SETTINGS


@cache
def shared_database() -> Database:
    """One Database for the whole run (the tests share one event loop)."""
    return Database(SETTINGS)


def new_session() -> AsyncSession:
    """A session on the test database."""
    return shared_database().session()
