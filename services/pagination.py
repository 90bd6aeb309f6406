"""Page cursors as clients see them: opaque tokens for a position in a newest-first list."""

import base64
import binascii
from datetime import datetime
from uuid import UUID

from db.tasks.reads import Cursor
from services.errors import InvalidCursorError


def encode_cursor(cursor: Cursor) -> str:
    """The token a client passes back to get the page after `cursor`."""
    raw = f"{cursor.created_at.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The cursor of a token made by `encode_cursor`; anything else is an
    InvalidCursorError."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created_at, task_id = raw.split("|")
        cursor = Cursor(created_at=datetime.fromisoformat(created_at), id=UUID(task_id))
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursorError() from error
    if cursor.created_at.tzinfo is None:
        raise InvalidCursorError()
    return cursor
