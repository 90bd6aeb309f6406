"""Page cursors as clients see them: opaque tokens for a position in a newest-first list."""

import base64
import binascii
from datetime import UTC, datetime
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
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has a time zone")
        # In UTC: an offset that takes the time out of the calendar is no cursor of ours.
        return Cursor(created_at=moment.astimezone(UTC), id=UUID(task_id))
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursorError() from error
