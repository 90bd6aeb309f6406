"""Dead letters: the list (the API's filters and pages), replay (as it was, or with an edited
payload validated like a submit) and purge, one by one or as a filter selects."""

from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import RuntimeDep, SessionDep
from app.dashboard.errors import HtmlRoute, domain_messages
from app.dashboard.forms import BulkSelection, DeadLetterQuery, edited_payload, parse
from app.dashboard.rendering import BASE, redirect, render
from app.dashboard.security import Acting, ViewerDep
from app.dashboard.tasks import choices, task_page
from app.dashboard.views import notice_text, page_view
from db.models import Role
from services import dead_letters, purge, replay
from services.access import selected_tenants, visible_tenants
from services.errors import InvalidFieldError, InvalidPayloadError

router = APIRouter(prefix=f"{BASE}/dead-letters", route_class=HtmlRoute, include_in_schema=False)
LIST = f"{BASE}/dead-letters"
# Form fields that are not part of a bulk action's selection.
NOT_SELECTION = ("csrf_token", "confirm", "cursor")


@router.get("")
async def dead_letters_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    """Dead tasks newest first, with the reason each died; filters as in the API."""
    filters = parse(DeadLetterQuery, request.query_params)
    tenants = await visible_tenants(
        session=session, principal=viewer.principal, asked=filters.tenant
    )
    page = await dead_letters.list_dead_letters(
        session=session,
        selection=filters.to_filter(tenants),
        limit=filters.limit,
        cursor=filters.position(),
    )
    return render(
        request,
        "dead_letters.html",
        viewer=viewer,
        title="Dead letters",
        filters=filters,
        page=page_view(page, viewer.principal, path=LIST, filters=filters),
        notice=notice_text(dict(request.query_params)),
        **choices(request),
    )


@router.post("/{task_id}/replay")
async def replay_one(
    request: Request, task_id: UUID, session: SessionDep, runtime: RuntimeDep, acting: Acting
) -> Response:
    """Replay a dead task (a write key), as it was or with the edited payload; a payload
    that does not fit its handler shows the task's page again, saying why."""
    viewer, form = acting
    viewer.principal.require(Role.WRITE, doing="replaying dead tasks")
    text = form.get("payload")
    try:
        payload = edited_payload(form)
        await replay.replay_dead_letter(
            session=session,
            outbox=runtime.outbox,
            task_id=task_id,
            tenant=viewer.principal.scope,
            limits=runtime.payload_limits,
            payload=payload,
        )
    except (InvalidPayloadError, InvalidFieldError) as error:
        await session.rollback()
        code, messages, _ = domain_messages(error)
        return await task_page(
            request,
            session,
            viewer,
            task_id,
            status_code=code,
            errors=messages,
            payload_text=text if isinstance(text, str) else None,
        )
    return redirect(request, f"{BASE}/tasks/{task_id}?notice=replayed", viewer)


@router.post("/{task_id}/purge")
async def purge_one(
    request: Request, task_id: UUID, session: SessionDep, acting: Acting
) -> Response:
    """Delete a dead task for good (an admin key)."""
    viewer, _ = acting
    viewer.principal.require(Role.ADMIN, doing="purging dead tasks")
    await purge.purge_dead_letter(session=session, task_id=task_id, tenant=viewer.principal.scope)
    return redirect(request, f"{LIST}?notice=purged", viewer)


@router.post("/replay")
async def replay_selected(
    request: Request, session: SessionDep, runtime: RuntimeDep, acting: Acting
) -> Response:
    """Replay the dead tasks the filter selects, at most `limit` (an admin key)."""
    viewer, form = acting
    viewer.principal.require(Role.ADMIN, doing="bulk replays")
    selection = parse(BulkSelection, form, ignore=NOT_SELECTION)
    outcome = await replay.replay_matching(
        session=session,
        outbox=runtime.outbox,
        selection=selection.to_filter(selected_tenants(viewer.principal, selection.tenant)),
        limit=selection.limit,
        limits=runtime.payload_limits,
    )
    query = {"notice": "replayed-many", "count": len(outcome.replayed), "skipped": outcome.skipped}
    return redirect(request, f"{LIST}?{urlencode(query)}", viewer)


@router.post("/purge")
async def purge_selected(request: Request, session: SessionDep, acting: Acting) -> Response:
    """Delete, for good, the dead tasks the filter selects (an admin key, confirmed)."""
    viewer, form = acting
    viewer.principal.require(Role.ADMIN, doing="purging dead tasks")
    selection = parse(BulkSelection, form, ignore=NOT_SELECTION)
    if form.get("confirm") != "yes":
        raise InvalidFieldError(
            ["confirm"], "tick the box to confirm: purged dead tasks are deleted for good"
        )
    deleted = await purge.purge_matching(
        session=session,
        selection=selection.to_filter(selected_tenants(viewer.principal, selection.tenant)),
    )
    return redirect(
        request, f"{LIST}?{urlencode({'notice': 'purged-many', 'count': deleted})}", viewer
    )
