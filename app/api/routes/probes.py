"""Liveness and readiness probes."""

from fastapi import APIRouter, Response, status

from app.api.deps import RuntimeDep
from app.readiness import broker_reachable, database_reachable
from app.schemas import HealthOut, ReadinessOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
async def health() -> HealthOut:
    """The process is alive."""
    return HealthOut(status="ok")


@router.get(
    "/ready",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "A dependency is unreachable."}},
)
async def ready(response: Response, runtime: RuntimeDep) -> ReadinessOut:
    """The database and the broker both answer."""
    database = await database_reachable(runtime.database)
    broker = await broker_reachable(runtime.broker)
    if not (database and broker):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessOut(
        status="ok" if database and broker else "unavailable", database=database, broker=broker
    )
