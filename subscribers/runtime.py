"""Everything one worker process runs with, built by the worker app (subscribers/worker.py)
and handed to the subscribers through FastStream's context."""

import logging
from typing import Annotated

from faststream import Context

from config.settings import Settings
from db.session import Database
from publishers.publishing import Publishers, TopologyConflictError
from services.held_release import HeldRelease
from services.named_queues import known_queues
from services.observability.tracing import Tracing
from services.outbox import Outbox
from services.relay import OutboxRelay
from services.retention import RetentionSweep
from services.scheduler import Scheduler
from services.submission import Submitter
from services.webhooks.pruning import DeliveryPruning
from services.webhooks.sender import WebhookSender
from subscribers.admission import AdmissionGate
from subscribers.cancel_requests import CancelRequests
from subscribers.execution import RELEASE_TIMEOUT_SECONDS, Executor
from subscribers.in_flight import InFlight
from subscribers.leases import LeaseKeeper

# The name the runtime goes by in FastStream's context.
CONTEXT_KEY = "taskgate_worker"
# The service name of the workers' spans, unless OTEL_SERVICE_NAME says otherwise.
SERVICE_NAME = "taskgate-worker"


class WorkerRuntime:
    """The worker process's database, publishers, executor, admission gate, leases and
    background jobs. Building it touches nothing on the network; `start` does."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        publishers: Publishers,
        tracing: Tracing | None = None,
    ):
        self.settings = settings
        self.tracing = tracing or Tracing(service_name=SERVICE_NAME)
        # Taskgate's own spans (each task's attempt); None: tracing is off.
        self.tracer = self.tracing.tracer()
        self.database = database
        self.publishers = publishers
        self.cancel_requests = CancelRequests()
        self.leases = LeaseKeeper(
            database=database,
            lease_seconds=settings.task_lease_seconds,
            cancel_requests=self.cancel_requests,
        )
        self.gate = AdmissionGate(slots=settings.worker_concurrency)
        self.in_flight = InFlight()
        self.held_release = HeldRelease(database=database, publishers=publishers, settings=settings)
        self.executor = Executor(
            settings=settings,
            database=database,
            leases=self.leases,
            cancel_requests=self.cancel_requests,
            controlled_ended=self.held_release.wake,
        )
        self.relay = OutboxRelay(database=database, publishers=publishers, settings=settings)
        self.sweep = RetentionSweep(database=database, settings=settings)
        self.webhooks = WebhookSender(database=database, settings=settings)
        self.webhook_pruning = DeliveryPruning(database=database, settings=settings)
        # Schedules' ticks make their tasks here too, as a submit does (recorded, then sent).
        outbox = Outbox(
            database=database,
            publishers=publishers,
            grace_seconds=settings.outbox_grace_seconds,
        )
        self.scheduler = Scheduler(
            database=database,
            submitter=Submitter(database=database, outbox=outbox, settings=settings),
            settings=settings,
        )

    def start_tracing(self) -> None:
        """Before the broker starts: spans of this process go where the settings say."""
        self.tracing.start()

    async def start(self) -> None:
        """Once the broker runs: declare what consuming does not (the delay queues have no
        consumer), and start the lease keeper and the background jobs."""
        try:
            await self.publishers.declare_topology(known_queues(self.settings))
        except TopologyConflictError as error:
            # Retrying cannot help: someone must migrate the queue. One line, then stop.
            logging.getLogger(__name__).error("%s", error)
            await self.publishers.broker.stop()
            raise SystemExit(1) from None
        self.leases.start()
        self.relay.start()
        self.sweep.start()
        self.held_release.start()
        self.webhooks.start()
        self.webhook_pruning.start()
        self.scheduler.start()

    async def stop_background_jobs(self) -> None:
        """When the broker stops taking messages."""
        await self.held_release.stop()
        await self.scheduler.stop()
        await self.webhook_pruning.stop()
        await self.webhooks.stop()
        await self.sweep.stop()
        await self.relay.stop()

    async def close(self) -> None:
        """Once the broker has stopped: hand back the tasks still running past the grace
        period, stop renewing leases, close the database."""
        await self.in_flight.stop(wait_seconds=RELEASE_TIMEOUT_SECONDS + 1)
        await self.leases.stop()
        await self.database.dispose()


# How a subscriber asks for the runtime.
WorkerDep = Annotated[WorkerRuntime, Context(CONTEXT_KEY)]
