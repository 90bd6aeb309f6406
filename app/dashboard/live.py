"""The live overview: queues and bands, recent tasks by status, durations (a fragment htmx
refreshes every DASHBOARD_REFRESH_SECONDS), and the throughput chart's data."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.api.deps import SessionDep
from app.dashboard.errors import HtmlRoute
from app.dashboard.rendering import BASE, HEADERS, render
from app.dashboard.security import Viewer, ViewerDep, settings_of
from db.models import Role, TaskStatus
from services.access import visible_tenants
from services.activity import PERCENTILE_NAMES, overview, throughput
from services.queue_controls import paused_queues

router = APIRouter(prefix=BASE, route_class=HtmlRoute, include_in_schema=False)

# What the chart draws, in its order.
CHART_SERIES = ("submitted", "succeeded", "dead")


async def _overview_context(
    request: Request, session: AsyncSession, viewer: Viewer
) -> dict[str, Any]:
    runtime = request.app.state.runtime
    settings = settings_of(request)
    tenants = await visible_tenants(session=session, principal=viewer.principal)
    found = await overview(
        session=session,
        publishers=runtime.publishers,
        known=runtime.queues,
        tenants=tenants,
        window_seconds=settings.dashboard_window_seconds,
        with_broker=viewer.may(Role.ADMIN),
    )
    return {
        "overview": found,
        # The viewer's own tenant's: what its pause buttons act on.
        "paused_queues": await paused_queues(session=session, tenant=viewer.principal.tenant),
        "may_control": viewer.may(Role.ADMIN),
        "queue_names": runtime.queues,
        "statuses": [status.value for status in TaskStatus],
        "percentiles": PERCENTILE_NAMES,
        "refresh_seconds": settings.dashboard_refresh_seconds,
        "chart_seconds": settings.dashboard_chart_seconds,
    }


@router.get("")
async def dashboard(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    """The overview: live figures and the throughput chart."""
    context = await _overview_context(request, session, viewer)
    return render(request, "overview.html", viewer=viewer, title="Overview", **context)


@router.get("/live")
async def live(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    """The overview's live figures alone (what htmx swaps in)."""
    context = await _overview_context(request, session, viewer)
    return render(request, "_live.html", viewer=viewer, **context)


@router.get("/throughput.json")
async def throughput_data(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    after: Annotated[float | None, Query(ge=0, le=253402300799)] = None,
) -> Response:
    """Tasks submitted, succeeded and dead per second (the chart's data); `after`: only
    the seconds since then."""
    span = settings_of(request).dashboard_chart_seconds
    tenants = await visible_tenants(session=session, principal=viewer.principal)
    found = await throughput(session=session, tenants=tenants, span_seconds=span, after=after)
    body = {
        "start": found.start,
        "span": span,
        "series": {name: found.series[name] for name in CHART_SERIES},
    }
    return JSONResponse(body, headers=HEADERS)
