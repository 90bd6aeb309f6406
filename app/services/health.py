"""Whether the database and the broker answer."""

import logging

from sqlalchemy import text

from db.session import SessionFactory
from publishers.broker import broker

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0


async def database_reachable() -> bool:
    try:
        async with SessionFactory() as session:
            await session.execute(text("SELECT 1"))
    except Exception as error:
        logger.warning("database not reachable: %s", error)
        return False
    return True


async def broker_reachable() -> bool:
    try:
        return await broker.ping(timeout=PROBE_TIMEOUT_SECONDS)
    except Exception as error:
        logger.warning("broker not reachable: %s", error)
        return False
