"""Who is looking at the dashboard, and whether a request that changes something really
comes from one of its pages.

A page needs a session whose key still holds (with auth off: the principal the API uses
then, and a session of no key, for the CSRF token). A POST also needs an `Origin` (or,
without one, a `Referer`) of this very host, and the session's CSRF token in the
`X-CSRF-Token` header or the `csrf_token` field.
"""

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData

from app.auth import Authenticator
from app.dashboard.session import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionSigner,
    signer_for,
)
from config.settings import Settings
from db.models import Role
from services.access import UNAUTHENTICATED, Principal
from services.errors import NotAuthenticatedError


class LoginRequired(Exception):
    """No session, or one that ended: `reason` says which ("" when there was none)."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__(reason or "sign in")


class RequestRefused(Exception):
    """A request that changes something but may not come from the dashboard's own pages
    (403): the message says what was missing."""


@dataclass(frozen=True)
class Viewer:
    """The principal behind a dashboard request, its session and CSRF token, and a new
    session token to set (with auth off, the first time)."""

    principal: Principal
    session: Session
    csrf: str
    auth_enabled: bool
    new_token: str | None = None

    def may(self, role: Role) -> bool:
        return self.principal.may(role)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def signer_of(request: Request) -> SessionSigner:
    return signer_for(settings_of(request).message_secret)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


async def current_viewer(request: Request) -> Viewer:
    """The viewer of the request; LoginRequired when auth is on and its session does not
    hold (none, expired, forged, or its key revoked)."""
    settings = settings_of(request)
    signer = signer_of(request)
    presented = request.cookies.get(COOKIE)
    session = signer.read(presented)
    if not settings.auth_enabled:
        new_token = None
        if session is None or session.prefix:
            session, new_token = signer.issue(
                prefix="", key_id=None, lifetime=settings.dashboard_session_seconds
            )
        return Viewer(UNAUTHENTICATED, session, signer.csrf(session), False, new_token)
    if session is None or not session.prefix or session.key_id is None:
        raise LoginRequired("expired" if presented else "")
    authenticator: Authenticator = request.app.state.runtime.authenticator
    try:
        principal = await authenticator.recheck(session.prefix, session.key_id)
    except NotAuthenticatedError:
        raise LoginRequired("revoked") from None
    return Viewer(principal, session, signer.csrf(session), True)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def same_origin(request: Request) -> bool:
    """Whether the request's Origin (or, if it sent none, its Referer) is this host, as
    the browser reached it."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


def check_origin(request: Request) -> None:
    """RequestRefused unless the request comes from a page of this host."""
    if not same_origin(request):
        raise RequestRefused(
            "this request did not come from a page of this dashboard (its Origin is another "
            "site's, or missing), so nothing was changed"
        )


async def checked_form(request: Request, viewer: Viewer) -> FormData:
    """The form of a request that changes something, once its origin and CSRF token are
    checked; RequestRefused otherwise."""
    check_origin(request)
    form = await request.form()
    presented = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not isinstance(presented, str) or not signer_of(request).csrf_matches(
        viewer.session, presented
    ):
        raise RequestRefused(
            "the form's security token is missing or is not this session's, so nothing was "
            "changed: reload the page and try again"
        )
    return form


async def acting_viewer(request: Request, viewer: ViewerDep) -> tuple[Viewer, FormData]:
    """The viewer of a request that changes something, and its checked form."""
    return viewer, await checked_form(request, viewer)


Acting = Annotated[tuple[Viewer, FormData], Depends(acting_viewer)]
