"""Message signatures: an HMAC-SHA256 of a message's body and its x-taskgate-* headers, in
the `x-taskgate-signature` header. Taskgate's publishers sign every message; workers change
no task for a message whose signature does not verify (the broker is not a trust boundary).
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from config import names

VERSION = "v1"
TASKGATE_HEADER_PREFIX = "x-taskgate-"


class MessageSigner:
    """Signs and verifies with one secret (TASKGATE_SECRET, shared by API and workers)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, body: bytes, headers: Mapping[str, Any]) -> str:
        """The signature header's value for a message with this body and these headers."""
        digest = hmac.new(self._secret, _signed_bytes(body, headers), hashlib.sha256)
        return f"{VERSION}={digest.hexdigest()}"

    def signed_headers(self, body: bytes, headers: Mapping[str, Any]) -> dict[str, Any]:
        """`headers` with the signature of the message added."""
        return {**headers, names.HEADER_SIGNATURE: self.sign(body, headers)}

    def verify(self, body: bytes, headers: Mapping[str, Any]) -> bool:
        """Whether the message carries a valid signature of its body and headers."""
        presented = _text(headers.get(names.HEADER_SIGNATURE))
        if not presented:
            return False
        return hmac.compare_digest(presented, self.sign(body, headers))


def _signed_bytes(body: bytes, headers: Mapping[str, Any]) -> bytes:
    # Only Taskgate's own headers are signed: RabbitMQ adds headers of its own when it
    # dead-letters a message (x-death), and those must not break the signature.
    signed = {
        name: _value(value)
        for name, value in headers.items()
        if name.startswith(TASKGATE_HEADER_PREFIX) and name != names.HEADER_SIGNATURE
    }
    canonical = json.dumps(signed, sort_keys=True, separators=(",", ":"))
    return f"{VERSION}\n{canonical}\n".encode() + body


def _value(value: Any) -> Any:
    """A header value as both ends see it (the client library may hand text back as bytes)."""
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _text(value: Any) -> str:
    text = _value(value)
    return text if isinstance(text, str) else ""
