"""The HTTP API: `uvicorn app.main:app`."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.errors import install_error_handlers
from app.api.openapi import install_openapi
from app.api.routes import api_router, root_routers
from app.handlers.loader import load_handlers
from app.services.broker_connection import BrokerConnector, connect_and_declare
from app.services.relay import OutboxRelay
from app.services.retention import RetentionSweep
from app.services.waiting import task_waiter
from db.session import engine
from publishers.broker import broker

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    load_handlers()
    # Connected, not started: this process publishes; only workers consume. RabbitMQ being
    # down does not keep the API from starting: tasks wait in the outbox meanwhile.
    connector, relay, sweep = BrokerConnector(), OutboxRelay(), RetentionSweep()
    try:
        await connect_and_declare()
    except Exception as error:
        logger.warning("RabbitMQ not reachable at start (%s); accepting into the outbox", error)
        connector.start()
    relay.start()
    sweep.start()
    # Long polls (`?wait=`) hear of finished tasks through its one LISTEN connection.
    task_waiter.start()
    # What startup made lives as long as the process: keep it out of the collector's full
    # passes, which otherwise stall every request for tens of milliseconds now and then.
    gc.freeze()
    try:
        yield
    finally:
        await task_waiter.stop()
        await sweep.stop()
        await relay.stop()
        await connector.stop()
        await broker.stop()
        await engine.dispose()


def create_app() -> FastAPI:
    """Build the API: routers, error mapping, lifespan."""
    app = FastAPI(
        title="Taskgate",
        version="0.1.0",
        summary="Submit tasks over HTTP; workers run them; failures land in a dead-letter queue.",
        lifespan=lifespan,
    )
    app.include_router(api_router)
    for router in root_routers:
        app.include_router(router)
    install_error_handlers(app)
    install_openapi(app)
    return app


app = create_app()
