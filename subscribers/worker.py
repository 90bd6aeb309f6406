"""The worker app: `faststream run subscribers.worker:app [--workers N]`."""

from faststream import FastStream

from app.services.queues import known_queues
from app.services.relay import OutboxRelay
from app.services.retention import RetentionSweep
from db.session import engine
from publishers.broker import broker
from publishers.tasks import declare_topology
from subscribers.specification import asyncapi
from subscribers.tasks import leases

# Importing subscribers.tasks loaded the handlers: the queues they name decide the
# subscribers.
app = FastStream(broker, specification=asyncapi)
relay = OutboxRelay()
sweep = RetentionSweep()


@app.after_startup
async def start_background_work() -> None:
    # The delay queues have no consumer, so consuming does not declare them.
    await declare_topology(known_queues())
    leases.start()
    relay.start()
    sweep.start()


@app.on_shutdown
async def stop_background_work() -> None:
    await sweep.stop()
    await relay.stop()


@app.after_shutdown
async def close_database() -> None:
    await leases.stop()
    await engine.dispose()
