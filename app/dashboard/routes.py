"""Every route of the dashboard, collected in one place (none is in the OpenAPI document:
they answer HTML, for people)."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.dashboard import dead_letters, live, login, queues, schedules, tasks
from app.dashboard.errors import HtmlRoute
from app.dashboard.rendering import BASE, problem, redirect

router = APIRouter()
for part in (
    login.router,
    live.router,
    tasks.router,
    dead_letters.router,
    schedules.router,
    queues.router,
):
    router.include_router(part)

# Last: any other address under the dashboard is a page saying so.
fallback = APIRouter(prefix=BASE, route_class=HtmlRoute, include_in_schema=False)


@fallback.get("/{rest:path}")
async def not_found(request: Request, rest: str) -> Response:
    """No such page."""
    if rest == "":
        return redirect(request, BASE)
    return problem(request, 404, "Not found", ["there is no such page in the dashboard"])


router.include_router(fallback)
