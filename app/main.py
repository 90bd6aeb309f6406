"""The HTTP API: `uvicorn app.main:app`.

The one place an API process is assembled: `create_app` builds the routes; the lifespan
builds and starts the runtime they use (app/runtime.py).
"""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from opentelemetry.trace import TracerProvider

from app.api.error_responses import install_error_responses
from app.api.openapi import install_openapi
from app.api.routes import api_router, root_routers
from app.dashboard.routes import router as dashboard_router
from app.guards import BodyLimit, HostGuard
from app.observability import install_observability
from app.runtime import SERVICE_NAME, ApiRuntime
from config.settings import Settings, get_settings
from services.observability.tracing import Tracing

# The pages' own scripts and styles, and (under vendor/) what `make assets` vendors.
STATIC_DIR = Path(__file__).parent / "static"

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """Build the API for `settings` (by default, the environment's): routers, error
    mapping, and a lifespan that starts what the routes use. Spans go to `tracer_provider`
    if given, else where the OTEL_* variables say (if they say)."""
    tracing = Tracing(service_name=SERVICE_NAME, provider=tracer_provider)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ApiRuntime(settings or get_settings(), tracing=tracing)
        app.state.runtime = runtime
        await runtime.start()
        # What startup made lives as long as the process: keep it out of the collector's
        # full passes, which otherwise stall every request for tens of milliseconds.
        gc.freeze()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Taskgate",
        version="0.1.0",
        summary="Submit tasks over HTTP; workers run them; failures land in a dead-letter queue.",
        lifespan=lifespan,
        # Served by app/api/routes/docs.py with assets of our own, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(api_router)
    for router in root_routers:
        app.include_router(router)
    app.include_router(dashboard_router)
    if not (STATIC_DIR / "vendor" / "versions.json").is_file():
        logger.error(
            "the documentation and dashboard assets are missing from %s: run `make assets`",
            STATIC_DIR / "vendor",
        )
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    install_error_responses(app)
    install_openapi(app, settings)
    configured = settings or get_settings()
    # The last added runs first: the Host is checked before anything reads the body.
    app.add_middleware(BodyLimit, max_bytes=configured.max_request_bytes)
    app.add_middleware(HostGuard, allowed=configured.hosts_allowed)
    install_observability(app, configured, tracing)
    return app


app = create_app()
