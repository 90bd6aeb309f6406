"""The Taskgate-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
keyed with the webhook's secret. The time is signed with the body, so a receiver that
refuses old times cannot be sent a captured delivery again later."""

import hashlib
import hmac
import secrets

SECRET_MARK = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A webhook's secret: 256 random bits."""
    return SECRET_MARK + secrets.token_urlsafe(SECRET_BYTES)


def signature(*, secret: str, body: bytes, timestamp: int) -> str:
    """The header's value for `body` sent at `timestamp` (Unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
