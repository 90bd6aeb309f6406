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
    queue_controls,
    results,
    schedules,
    task_events,
    webhooks,
)

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(queue.router)
api_router.include_router(queue_controls.router)
api_router.include_router(results.router)
api_router.include_router(task_events.router)
api_router.include_router(dead_letters.router)
api_router.include_router(handler_catalog.router)
api_router.include_router(keys.router)
api_router.include_router(schedules.router)
api_router.include_router(webhooks.router)

root_routers = (probes.router, docs.router, metrics.router)
