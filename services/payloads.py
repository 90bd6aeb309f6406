"""JSON that PostgreSQL's JSONB can hold (no NUL characters, no unpaired surrogates, no
NaN or infinite numbers), within the limits a client's input must keep, and how much of a
failure is stored."""

import math
from dataclasses import dataclass
from typing import Any

from config.settings import Settings

Location = tuple[str | int, ...]


# Deeper than this, a value is refused wherever it is checked (it would only be stored).
UNLIMITED_DEPTH = 10_000


def unstorable(
    value: Any, location: Location = (), *, max_depth: int = UNLIMITED_DEPTH
) -> tuple[Location, str] | None:
    """Where in `value` the first thing JSONB cannot store is (or the first object or list
    nested deeper than `max_depth`), and why; None if all is well."""
    if isinstance(value, str):
        return _bad_text(value, location)
    if isinstance(value, float) and not math.isfinite(value):
        return location, "number is not finite (NaN and Infinity are not JSON)"
    if isinstance(value, dict | list) and len(location) >= max_depth:
        return location, f"nested deeper than {max_depth} levels (MAX_PAYLOAD_DEPTH)"
    if isinstance(value, dict):
        for key, item in value.items():
            # The location is shown to the client: it must itself be printable.
            here = (*location, make_storable(str(key)))
            found = _bad_text(str(key), here) or unstorable(item, here, max_depth=max_depth)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable(item, (*location, index), max_depth=max_depth)
            if found:
                return found
    return None


def _bad_text(text: str, location: Location) -> tuple[Location, str] | None:
    if "\x00" in text:
        return location, "text holds a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return location, "text holds an unpaired surrogate, which is not valid Unicode"
    return None


def make_storable(value: Any) -> Any:
    """`value` with what JSONB cannot store replaced: bad text by U+FFFD, bad numbers by
    None. For recording messages as they came, never for a client's payload."""
    if isinstance(value, str):
        cleaned = value.replace("\x00", "\ufffd")
        return cleaned.encode("utf-16", errors="surrogatepass").decode("utf-16", errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {make_storable(str(key)): make_storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [make_storable(item) for item in value]
    return value


def clipped(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f"… [{len(text) - limit} more characters cut]"
    return text[: max(limit - len(note), 0)] + note


@dataclass(frozen=True)
class StoredTextLimits:
    """How much of a failure a task keeps: its error text, its traceback, and how many of
    its failed attempts (MAX_ERROR_CHARS, MAX_TRACEBACK_CHARS, MAX_ATTEMPT_HISTORY)."""

    error_chars: int = 4000
    traceback_chars: int = 16_000
    history: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> "StoredTextLimits":
        return cls(
            error_chars=settings.max_error_chars,
            traceback_chars=settings.max_traceback_chars,
            history=settings.max_attempt_history,
        )

    def error(self, text: str) -> str:
        return clipped(text, self.error_chars)

    def traceback(self, text: str | None) -> str | None:
        return None if text is None else clipped(text, self.traceback_chars)


@dataclass(frozen=True)
class PayloadLimits:
    """How large and how deeply nested a payload may be (MAX_PAYLOAD_BYTES and
    MAX_PAYLOAD_DEPTH), and how many attempts a submit may ask for (MAX_ATTEMPTS_LIMIT)."""

    max_bytes: int = 256 * 1024
    max_depth: int = 32
    max_attempts: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> "PayloadLimits":
        return cls(
            max_bytes=settings.max_payload_bytes,
            max_depth=settings.max_payload_depth,
            max_attempts=settings.max_attempts_limit,
        )
