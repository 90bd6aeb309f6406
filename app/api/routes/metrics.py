"""Prometheus metrics of this API process."""

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import RuntimeDep
from config.settings import Settings
from services.errors import NotAuthenticatedError

router = APIRouter(tags=["metrics"])
BEARER = "bearer "


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """This process's metrics in Prometheus' text format: requests, submits, FastStream's
    publishes, and the outbox backlog and queue depths (read at most every few seconds)."""
    check_metrics_token(request, runtime.settings)
    await runtime.state_gauges.refresh()
    return Response(generate_latest(runtime.exposed_metrics), media_type=CONTENT_TYPE_LATEST)


def check_metrics_token(request: Request, settings: Settings) -> None:
    """With METRICS_TOKEN set, the request must present it as a bearer token; without it,
    only an API whose auth is off serves metrics to anyone."""
    token = settings.metrics_token.get_secret_value()
    if not token:
        if settings.auth_enabled:
            raise NotAuthenticatedError(
                "metrics are served to `Authorization: Bearer <METRICS_TOKEN>`, and this API "
                "has no METRICS_TOKEN: set one"
            )
        return
    authorization = request.headers.get("authorization", "")
    presented = ""
    if authorization.lower().startswith(BEARER):
        presented = authorization[len(BEARER) :].strip()
    if not hmac.compare_digest(presented.encode(), token.encode()):
        raise NotAuthenticatedError(
            "metrics are served to `Authorization: Bearer <METRICS_TOKEN>` only"
        )
