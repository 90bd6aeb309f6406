"""Pages and fragments from the Jinja2 templates, with the headers every dashboard answer
carries: a strict Content-Security-Policy (scripts and styles from this server only, no
inline ones, nothing fetched from elsewhere), no caching, no framing."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import Response

from app.dashboard.security import Viewer, is_https, settings_of
from app.dashboard.session import CSRF_FIELD, CSRF_HEADER, set_session_cookie

BASE = "/dashboard"
TEMPLATES = Path(__file__).parent / "templates"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Pages show a tenant's tasks: never kept where the next user of the browser finds them.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Same-origin requests keep their Referer (the CSRF check's fallback for Origin).
    "Referrer-Policy": "same-origin",
}
# htmx as the pages use it: no injected styles (the CSP forbids them), no eval, requests
# to this server only, no copies of pages in localStorage, and 4xx answers shown in place.
HTMX_CONFIG = json.dumps(
    {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
        "selfRequestsOnly": True,
        "historyCacheSize": 0,
        "refreshOnHistoryMiss": True,
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "4..", "swap": True, "error": True},
            {"code": "...", "swap": False, "error": True},
        ],
    }
)


def _when(moment: datetime | str | None) -> str:
    """A moment (or one written in ISO 8601, as the attempt history keeps them) as people
    read it, in UTC, to the second."""
    if isinstance(moment, str):
        written = moment
        try:
            moment = datetime.fromisoformat(written)
        except ValueError:
            return written
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    """A duration: milliseconds below a second, seconds below a minute, then minutes."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.2f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _plain(value: float) -> str:
    """A number without a needless fraction (3, 2.5)."""
    return f"{value:g}"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(when=_when, seconds=_seconds, pretty=_pretty, plain=_plain)
environment.globals.update(
    base=BASE, htmx_config=HTMX_CONFIG, csrf_field=CSRF_FIELD, csrf_header=CSRF_HEADER
)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The template rendered for the viewer, with the dashboard's headers (and the
    viewer's new session cookie, if it was just given one)."""
    html = environment.get_template(template).render(
        viewer=viewer, path=request.url.path, **context
    )
    response = HTMLResponse(html, status_code=status_code, headers={**HEADERS, **(headers or {})})
    keep_session(request, response, viewer)
    return response


def keep_session(request: Request, response: Response, viewer: Viewer | None) -> None:
    """Set the session cookie a viewer was just given (auth off: on its first page)."""
    if viewer is not None and viewer.new_token is not None:
        set_session_cookie(
            response,
            viewer.new_token,
            lifetime=settings_of(request).dashboard_session_seconds,
            secure=is_https(request),
        )


def redirect(request: Request, url: str, viewer: Viewer | None = None) -> Response:
    """See Other: the page to show after a form was handled (or to sign in on). An htmx
    request is sent there with HX-Redirect, as a whole page."""
    response: Response
    if is_htmx(request):
        response = Response(status_code=204, headers={**HEADERS, "HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303, headers=HEADERS)
    keep_session(request, response, viewer)
    return response


def problem(
    request: Request,
    status_code: int,
    title: str,
    messages: list[str],
    *,
    viewer: Viewer | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """An answer saying what went wrong: a whole page, or a fragment for htmx."""
    template = "_problem.html" if is_htmx(request) else "problem.html"
    return render(
        request,
        template,
        viewer=viewer,
        status_code=status_code,
        headers=headers,
        title=title,
        messages=messages,
        code=status_code,
    )
