"""What a subscriber does when PostgreSQL cannot be reached: wait, then hand the message
back to RabbitMQ (never dead-letter work for an outage)."""

import asyncio
import logging
from typing import NoReturn

from faststream.exceptions import NackMessage

logger = logging.getLogger(__name__)

# The pause keeps an outage from being spun through in redeliveries.
DATABASE_DOWN_PAUSE_SECONDS = 2.0


async def requeue_after_pause(error: BaseException, *, what: str) -> NoReturn:
    """Log, pause, and nack `what` back onto its queue."""
    logger.warning("database unavailable; %s goes back to the queue: %s", what, error)
    await asyncio.sleep(DATABASE_DOWN_PAUSE_SECONDS)
    raise NackMessage(requeue=True) from error
