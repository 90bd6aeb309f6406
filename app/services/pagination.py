"""Keyset pagination: newest first, by (created_at, id), stable while tasks arrive."""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from app.services.errors import InvalidCursorError

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    """The position after which the next page starts."""

    created_at: datetime
    id: UUID

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        """Parse a token made by `encode`; anything else is an InvalidCursorError."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            created_at, task_id = raw.split("|")
            cursor = cls(created_at=datetime.fromisoformat(created_at), id=UUID(task_id))
        except (ValueError, binascii.Error, UnicodeDecodeError) as error:
            raise InvalidCursorError() from error
        if cursor.created_at.tzinfo is None:
            raise InvalidCursorError()
        return cursor


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: Cursor | None


def page_of(rows: list[Any], limit: int) -> Page[Any]:
    """The page made of `rows`, read as up to `limit + 1` rows newest first: the row past
    the limit only says that a next page exists."""
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    last = rows[limit - 1]
    return Page(items=rows[:limit], next_cursor=Cursor(created_at=last.created_at, id=last.id))
