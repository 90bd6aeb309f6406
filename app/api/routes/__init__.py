"""Every router of the API, collected in one place."""

from fastapi import APIRouter

from app.api.routes import dead_letter, docs, handlers, health, queue, results

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(queue.router)
api_router.include_router(results.router)
api_router.include_router(dead_letter.router)
api_router.include_router(handlers.router)

root_routers = (health.router, docs.router)
