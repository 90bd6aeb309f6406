"""Signing in to the dashboard with an API key, once, and signing out."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.auth import Authenticator
from app.dashboard.errors import HtmlRoute
from app.dashboard.rendering import BASE, redirect, render
from app.dashboard.security import (
    ViewerDep,
    check_origin,
    checked_form,
    is_https,
    settings_of,
    signer_of,
)
from app.dashboard.session import clear_session_cookie, set_session_cookie
from app.dashboard.views import LOGIN_NOTICES
from services.errors import NotAuthenticatedError, RateLimitedError

router = APIRouter(prefix=BASE, route_class=HtmlRoute, include_in_schema=False)

# No key is longer; a longer one is refused unread.
MAX_KEY_CHARS = 200


def _form(request: Request, *, status_code: int = 200, error: str | None = None) -> Response:
    notice = LOGIN_NOTICES.get(request.query_params.get("ended", ""))
    return render(
        request,
        "login.html",
        viewer=None,
        status_code=status_code,
        error=error,
        notice=None if error else notice,
    )


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The form asking for an API key (with auth off, straight to the dashboard)."""
    if not settings_of(request).auth_enabled:
        return redirect(request, BASE)
    return _form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the key; a session for it, or the form again saying what was wrong."""
    if not settings_of(request).auth_enabled:
        return redirect(request, BASE)
    check_origin(request)
    key = (await request.form()).get("key")
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARS:
        return _form(request, status_code=401, error="Enter an API key (tg_…).")
    authenticator: Authenticator = request.app.state.runtime.authenticator
    try:
        principal = await authenticator.check(key.strip())
    except NotAuthenticatedError:
        return _form(
            request,
            status_code=401,
            error="That key was not accepted: it is unknown, revoked or mistyped.",
        )
    except RateLimitedError as error:
        message = str(error)
        response = _form(request, status_code=429, error=f"{message[:1].upper()}{message[1:]}.")
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    settings = settings_of(request)
    _, token = signer_of(request).issue(
        prefix=key.strip().split("_", 2)[1],
        key_id=principal.key_id,
        lifetime=settings.dashboard_session_seconds,
    )
    response = redirect(request, BASE)
    set_session_cookie(
        response, token, lifetime=settings.dashboard_session_seconds, secure=is_https(request)
    )
    return response


@router.post("/logout")
async def logout(request: Request, viewer: ViewerDep) -> Response:
    """End the session: the cookie is removed (the key itself stays valid)."""
    await checked_form(request, viewer)
    response = redirect(request, f"{BASE}/login?ended=signed-out")
    clear_session_cookie(response, secure=is_https(request))
    return response
