"""The HTTP API: `uvicorn app.main:app`.

The one place an API process is assembled: `create_app` builds the routes; the lifespan
builds and starts the runtime they use (app/runtime.py).
"""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.error_responses import install_error_responses
from app.api.openapi import install_openapi
from app.api.routes import api_router, root_routers
from app.guards import BodyLimit, HostGuard
from app.runtime import ApiRuntime
from config.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (by default, the environment's): routers, error
    mapping, and a lifespan that starts what the routes use."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ApiRuntime(settings or get_settings())
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
    )
    app.include_router(api_router)
    for router in root_routers:
        app.include_router(router)
    install_error_responses(app)
    install_openapi(app, settings)
    configured = settings or get_settings()
    # The last added runs first: the Host is checked before anything reads the body.
    app.add_middleware(BodyLimit, max_bytes=configured.max_request_bytes)
    app.add_middleware(HostGuard, allowed=configured.hosts_allowed)
    return app


app = create_app()
