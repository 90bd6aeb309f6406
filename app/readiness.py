"""Whether the database and the broker answer (the readiness probe)."""

import logging

from faststream.rabbit import RabbitBroker
from sqlalchemy import text

from db.session import Database

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0


async def database_reachable(database: Database) -> bool:
    try:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as error:
        logger.warning("database not reachable: %s", error)
        return False
    return True


async def broker_reachable(broker: RabbitBroker) -> bool:
    try:
        return await broker.ping(timeout=PROBE_TIMEOUT_SECONDS)
    except Exception as error:
        logger.warning("broker not reachable: %s", error)
        return False
