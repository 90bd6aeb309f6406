"""The webhook sender: every API process and worker runs one.

It claims due deliveries (`FOR UPDATE SKIP LOCKED`, committed at once: no transaction stays
open across a send), sends each, and records what came of it in a transaction of its own.
A failed delivery is tried again, backing off, until WEBHOOK_GIVE_UP_SECONDS after its
event. At least once: a claim only pushes the delivery's next attempt past the longest a
send can take, so one whose process died mid-send is sent again once its claim lapses.
"""

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from config import names
from config.settings import Settings
from db import webhooks
from db.session import Database
from db.webhooks import DueDelivery
from services.background import PeriodicJob
from services.webhooks.sending import Outcome, attempt
from services.webhooks.targets import RESOLVE_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

# Beyond the longest a send can take (resolving, then the timeout for each of connecting,
# writing and reading), before a claimed delivery may be taken over.
CLAIM_MARGIN_SECONDS = 30.0
# Doublings of the first wait that already pass the longest one (2**12 s > 1 h).
MAX_DOUBLINGS = 12


def retry_wait(attempt: int, *, draw: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempt`-th failed attempt: doubling from the first wait up
    to the longest, less up to the jitter's share of it at random."""
    doublings = min(max(attempt - 1, 0), MAX_DOUBLINGS)
    wait = min(names.WEBHOOK_MAX_RETRY_SECONDS, names.WEBHOOK_FIRST_RETRY_SECONDS * 2.0**doublings)
    return wait * (1 - names.WEBHOOK_RETRY_JITTER * draw())


def next_attempt_at(*, attempt: int, occurred_at: datetime, now: datetime) -> datetime | None:
    """When to try again after the `attempt`-th failed attempt; None: give up (it would be
    past WEBHOOK_GIVE_UP_SECONDS after the event)."""
    at = now + timedelta(seconds=retry_wait(attempt))
    give_up_at = occurred_at + timedelta(seconds=names.WEBHOOK_GIVE_UP_SECONDS)
    return None if at > give_up_at else at


class WebhookSender(PeriodicJob):
    """Looks for due deliveries every WEBHOOK_INTERVAL_SECONDS and keeps up to
    WEBHOOK_CONCURRENCY of them sending at once (0: this process sends none)."""

    name = "webhook-sender"

    def __init__(self, *, database: Database, settings: Settings) -> None:
        super().__init__()
        self.database = database
        self.interval = settings.webhook_interval_seconds
        self.slots = settings.webhook_concurrency
        self.timeout = settings.webhook_timeout_seconds
        self.allow_private = settings.webhook_allow_private
        self.claim = timedelta(
            seconds=RESOLVE_TIMEOUT_SECONDS + 3 * self.timeout + CLAIM_MARGIN_SECONDS
        )
        self._sending: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    async def run_forever(self) -> None:
        if not self.slots:
            return
        # No proxy from the environment: the request goes to the address that was checked.
        async with httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, trust_env=False
        ) as http:
            self._http = http
            try:
                await super().run_forever()
            finally:
                for sending in self._sending:
                    sending.cancel()
                await asyncio.gather(*self._sending, return_exceptions=True)

    async def run_once(self) -> bool:
        free = self.slots - len(self._sending)
        if free <= 0:
            return False
        async with self.database.session() as session:
            claimed = await webhooks.claim_due(session=session, limit=free, lease=self.claim)
            await session.commit()
        for delivery in claimed:
            sending = asyncio.create_task(self._deliver(delivery), name=f"webhook-{delivery.id}")
            self._sending.add(sending)
            sending.add_done_callback(self._sending.discard)
        return len(claimed) == free

    async def _deliver(self, delivery: DueDelivery) -> None:
        assert self._http is not None
        outcome = await attempt(self._http, delivery, allow_private=self.allow_private)
        retry_at = None
        if outcome.error is not None:
            retry_at = next_attempt_at(
                attempt=delivery.attempt, occurred_at=delivery.occurred_at, now=datetime.now(UTC)
            )
            _log_failure(delivery, outcome, retry_at)
        try:
            async with self.database.session() as session:
                await webhooks.record_attempt(
                    session=session,
                    delivery_id=delivery.id,
                    attempt=delivery.attempt,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    error=outcome.error,
                    next_attempt_at=retry_at,
                )
                await session.commit()
        except Exception as error:
            # Its claim lapses: it is sent again, at least once.
            logger.warning(
                "could not record an attempt at webhook delivery %s: %s", delivery.id, error
            )


def _log_failure(delivery: DueDelivery, outcome: Outcome, retry_at: datetime | None) -> None:
    then = "given up" if retry_at is None else f"next attempt at {retry_at.isoformat()}"
    logger.info(
        "webhook delivery %s (%s, attempt %d) failed: %s; %s",
        delivery.id,
        delivery.event,
        delivery.attempt,
        outcome.error,
        then,
    )
