"""The tenant's schedules: when each runs, its next and last run, whether it is paused."""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import SessionDep
from app.dashboard.errors import HtmlRoute
from app.dashboard.forms import Paging, parse
from app.dashboard.rendering import BASE, render
from app.dashboard.security import ViewerDep
from services.pagination import encode_cursor
from services.schedules import list_schedules

router = APIRouter(prefix=f"{BASE}/schedules", route_class=HtmlRoute, include_in_schema=False)
LIST = f"{BASE}/schedules"


@router.get("")
async def schedules_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    """Schedules newest first, one page at a time (an operator's: every tenant's)."""
    paging = parse(Paging, request.query_params)
    page = await list_schedules(
        session=session,
        tenant=viewer.principal.scope,
        cursor=paging.position(),
        limit=paging.limit,
    )
    next_url = None
    if page.next_cursor is not None:
        query = {"limit": paging.limit, "cursor": encode_cursor(page.next_cursor)}
        next_url = f"{LIST}?{urlencode(query)}"
    return render(
        request,
        "schedules.html",
        viewer=viewer,
        title="Schedules",
        schedules=page.items,
        next_url=next_url,
        first_url=f"{LIST}?{urlencode({'limit': paging.limit})}" if paging.cursor else None,
    )
