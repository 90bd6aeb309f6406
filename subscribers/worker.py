"""The worker app: `faststream run --factory subscribers.worker:create_app [--workers N]`.

The one place a worker process is assembled: settings, logging, handlers, database, broker
(with FastStream's metrics and tracing middlewares), publishers, the runtime its
subscribers use, the subscribers themselves, and the group's metrics endpoint.
"""

from faststream import FastStream
from opentelemetry.trace import TracerProvider

from config.settings import Settings, get_settings
from db.session import Database
from publishers.broker import build_broker
from publishers.publishing import Publishers
from services.handlers.loader import load_handlers
from services.named_queues import consumed_queues
from services.observability.broker_middlewares import broker_middlewares
from services.observability.logs import configure_logging
from services.observability.tracing import Tracing
from subscribers.metrics_endpoint import WorkerMetricsEndpoint
from subscribers.registration import register_subscribers
from subscribers.runtime import CONTEXT_KEY, SERVICE_NAME, WorkerRuntime
from subscribers.specification import asyncapi_of


def create_app(
    settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None
) -> FastStream:
    """A worker for `settings` (by default, the environment's); spans go to
    `tracer_provider` if given, else where the OTEL_* variables say (if they say)."""
    settings = settings or get_settings()
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    # Before anything is spawned: `--workers` children inherit the metrics directory.
    endpoint = WorkerMetricsEndpoint.from_settings(settings)
    if endpoint is not None:
        endpoint.start()
    # Which queues exist depends on the handlers (each may name its queue).
    load_handlers(settings.handler_modules)
    tracing = Tracing(service_name=SERVICE_NAME, provider=tracer_provider)
    broker = build_broker(settings, middlewares=broker_middlewares(tracing))
    publishers = Publishers.from_settings(broker, settings)
    register_subscribers(broker, publishers.topology, consumed_queues(settings))
    runtime = WorkerRuntime(
        settings=settings, database=Database(settings), publishers=publishers, tracing=tracing
    )
    app = FastStream(broker, specification=asyncapi_of(broker))
    app.context.set_global(CONTEXT_KEY, runtime)
    app.on_startup(runtime.start_tracing)
    app.after_startup(runtime.start)
    app.on_shutdown(runtime.stop_background_jobs)
    app.after_shutdown(runtime.close)
    return app
