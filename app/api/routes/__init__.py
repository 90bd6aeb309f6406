"""Every router of the API, collected in one place."""

from fastapi import APIRouter

from app.api.routes import (
    dead_letters,
    docs,
    handler_catalog,
    keys,
    metrics,
    probes,
    queue,
    results,
)

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(queue.router)
api_router.include_router(results.router)
api_router.include_router(dead_letters.router)
api_router.include_router(handler_catalog.router)
api_router.include_router(keys.router)

root_routers = (probes.router, docs.router, metrics.router)
