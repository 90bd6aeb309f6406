"""JSON that PostgreSQL's JSONB can hold: no NUL characters, no unpaired surrogates, no
NaN or infinite numbers."""

import math
from typing import Any

Location = tuple[str | int, ...]


def unstorable(value: Any, location: Location = ()) -> tuple[Location, str] | None:
    """Where in `value` the first thing JSONB cannot store is, and why; None if all is well."""
    if isinstance(value, str):
        return _bad_text(value, location)
    if isinstance(value, float) and not math.isfinite(value):
        return location, "number is not finite (NaN and Infinity are not JSON)"
    if isinstance(value, dict):
        for key, item in value.items():
            # The location is shown to the client: it must itself be printable.
            here = (*location, make_storable(str(key)))
            found = _bad_text(str(key), here) or unstorable(item, here)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable(item, (*location, index))
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
