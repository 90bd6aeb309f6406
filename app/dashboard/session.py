"""The dashboard's session: a signed token in a cookie, and the CSRF token that goes with it.

The cookie holds no key: it names the key that signed in (its prefix and id), when the
session ends, and a random nonce, signed with an HMAC-SHA256 under a key derived from
TASKGATE_SECRET. Every request checks the named key again (app/auth.py), so a revoked key
ends its sessions at once. The CSRF token is an HMAC of the nonce: nothing is stored on the
server, and a page of another session (or another site) cannot know it.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

from starlette.responses import Response

COOKIE = "taskgate_session"
COOKIE_PATH = "/dashboard"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# No token of ours is longer; anything longer is not read at all.
MAX_TOKEN_CHARS = 400
# Keeps these signatures apart from every other use of TASKGATE_SECRET (messages).
PURPOSE = b"taskgate dashboard session v1"


@dataclass(frozen=True)
class Session:
    """Who signed in (the key's prefix and id; "" and None with auth off), until when
    (Unix time), and the nonce the CSRF token is made from."""

    prefix: str
    key_id: uuid.UUID | None
    expires: int
    nonce: str


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and reads session tokens, and the CSRF tokens of sessions."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, PURPOSE, hashlib.sha256).digest()

    def _mac(self, label: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, label + b":" + data, hashlib.sha256).digest()

    def issue(self, *, prefix: str, key_id: uuid.UUID | None, lifetime: int) -> tuple[Session, str]:
        """A new session lasting `lifetime` seconds, and its token."""
        session = Session(
            prefix=prefix,
            key_id=key_id,
            expires=int(time.time()) + lifetime,
            nonce=secrets.token_urlsafe(18),
        )
        body = f"{prefix}.{key_id or ''}.{session.expires}.{session.nonce}".encode()
        return session, f"{_encode(body)}.{_encode(self._mac(b'session', body))}"

    def read(self, token: str | None) -> Session | None:
        """The session of a token this signer issued and that has not expired; None for
        anything else (no token, a forged or damaged one, an expired one)."""
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        encoded_body, encoded_mac = token.split(".")
        try:
            body, mac = _decode(encoded_body), _decode(encoded_mac)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(mac, self._mac(b"session", body)):
            return None
        try:
            prefix, key_id, expires, nonce = body.decode().split(".")
            session = Session(
                prefix=prefix,
                key_id=uuid.UUID(key_id) if key_id else None,
                expires=int(expires),
                nonce=nonce,
            )
        except ValueError:
            return None
        return session if session.expires > time.time() else None

    def csrf(self, session: Session) -> str:
        """The CSRF token of the session: every form and htmx request sends it back."""
        return _encode(self._mac(b"csrf", session.nonce.encode()))

    def csrf_matches(self, session: Session, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(errors="replace"), self.csrf(session).encode()
        )


@lru_cache(maxsize=4)
def signer_for(secret: bytes) -> SessionSigner:
    """The signer of a secret (TASKGATE_SECRET: every API process makes the same one)."""
    return SessionSigner(secret)


def set_session_cookie(response: Response, token: str, *, lifetime: int, secure: bool) -> None:
    """The cookie: for the dashboard's paths only, out of scripts' reach, never sent by a
    request another site starts, over https only when the page came over https."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=lifetime,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )
