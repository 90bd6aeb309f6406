"""Dependencies shared by the routes: the process's runtime and what it holds."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime import ApiRuntime
from db.tasks.reads import Cursor
from publishers.publishing import Publishers
from services.outbox import Outbox
from services.pagination import decode_cursor
from services.submission import Submitter

MAX_PAGE_SIZE = 1000

# Every dependency is `async def`: FastAPI runs a plain `def` one in its thread pool, a
# hand-off per request that cost the submit path more CPU than the rest of it.


async def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.database.session() as session:
        yield session


async def get_submitter(runtime: RuntimeDep) -> Submitter:
    return runtime.submitter


async def get_publishers(runtime: RuntimeDep) -> Publishers:
    return runtime.publishers


async def get_outbox(runtime: RuntimeDep) -> Outbox:
    return runtime.outbox


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SubmitterDep = Annotated[Submitter, Depends(get_submitter)]
PublishersDep = Annotated[Publishers, Depends(get_publishers)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]


async def page_cursor(
    cursor: Annotated[
        str | None, Query(description="`next_cursor` of the previous page.", max_length=200)
    ] = None,
) -> Cursor | None:
    return None if cursor is None else decode_cursor(cursor)


CursorDep = Annotated[Cursor | None, Depends(page_cursor)]
LimitDep = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")]
