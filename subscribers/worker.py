"""The worker app: `faststream run --factory subscribers.worker:create_app [--workers N]`.

The one place a worker process is assembled: settings, handlers, database, broker,
publishers, the runtime its subscribers use, and the subscribers themselves.
"""

from faststream import FastStream

from config.settings import Settings, get_settings
from db.session import Database
from publishers.broker import build_broker
from publishers.publishing import Publishers
from services.handlers.loader import load_handlers
from services.named_queues import consumed_queues
from subscribers.registration import register_subscribers
from subscribers.runtime import CONTEXT_KEY, WorkerRuntime
from subscribers.specification import asyncapi_of


def create_app(settings: Settings | None = None) -> FastStream:
    """A worker for `settings` (by default, the environment's)."""
    settings = settings or get_settings()
    # Which queues exist depends on the handlers (each may name its queue).
    load_handlers(settings.handler_modules)
    broker = build_broker(settings)
    publishers = Publishers.from_settings(broker, settings)
    register_subscribers(broker, publishers.topology, consumed_queues(settings))
    runtime = WorkerRuntime(settings=settings, database=Database(settings), publishers=publishers)
    app = FastStream(broker, specification=asyncapi_of(broker))
    app.context.set_global(CONTEXT_KEY, runtime)
    app.after_startup(runtime.start)
    app.on_shutdown(runtime.stop_background_jobs)
    app.after_shutdown(runtime.close)
    return app
