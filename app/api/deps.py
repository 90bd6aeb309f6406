"""Dependencies shared by the routes."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.pagination import Cursor
from db.session import SessionFactory

MAX_PAGE_SIZE = 1000


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionFactory() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def page_cursor(
    cursor: Annotated[
        str | None, Query(description="`next_cursor` of the previous page.", max_length=200)
    ] = None,
) -> Cursor | None:
    return None if cursor is None else Cursor.decode(cursor)


CursorDep = Annotated[Cursor | None, Depends(page_cursor)]
LimitDep = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")]
