"""What the dashboard answers when a request cannot be served: pages (or htmx fragments)
saying why, with the status the API would give, never a 500 for bad input.

Domain errors get the status and words of the API's own mapping (app/api/error_responses.py).
"""

import json
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from app.api.error_responses import RETRY_AFTER_SECONDS, error_response
from app.dashboard.rendering import BASE, HEADERS, is_htmx, problem, redirect
from app.dashboard.security import LoginRequired, RequestRefused, is_https
from app.dashboard.session import clear_session_cookie
from db.failures import DATABASE_ERRORS, database_unavailable
from services.errors import TaskgateError
from services.payloads import make_storable

TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Invalid input",
    429: "Too many requests",
    503: "Database unavailable",
}
LOGIN = f"{BASE}/login"


def validation_messages(errors: Any) -> list[str]:
    """`field: problem` for each error of a request's validation."""
    messages = []
    for error in make_storable(list(errors)):
        where = ".".join(
            str(part) for part in error.get("loc", ()) if part not in ("query", "body")
        )
        messages.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg"))
    return messages


def domain_messages(error: TaskgateError) -> tuple[int, list[str], dict[str, str]]:
    """The API's status, messages and headers for a domain error."""
    answer: JSONResponse = error_response(error)
    detail = json.loads(bytes(answer.body))["detail"]
    messages = validation_messages(detail) if isinstance(detail, list) else [str(detail)]
    headers = (
        {"Retry-After": answer.headers["retry-after"]} if "retry-after" in answer.headers else {}
    )
    return answer.status_code, messages, headers


def login_required(request: Request, reason: str) -> Response:
    """To the login page (saying why), the cookie dropped; a page's JSON or htmx request
    learns it with a 401 and where to go."""
    url = f"{LOGIN}?ended={quote(reason)}" if reason else LOGIN
    if request.url.path.endswith(".json"):
        return JSONResponse({"detail": "sign in again", "login": url}, 401, headers=HEADERS)
    if is_htmx(request):
        return Response(status_code=401, headers={**HEADERS, "HX-Redirect": url})
    # The page's own requests (above) keep the cookie: each of them says why, too.
    response = redirect(request, url)
    if reason:
        clear_session_cookie(response, secure=is_https(request))
    return response


def html_error(request: Request, error: Exception) -> Response | None:
    """The answer for an error a dashboard route raised; None for one it does not know."""
    if isinstance(error, LoginRequired):
        return login_required(request, error.reason)
    if isinstance(error, RequestRefused):
        return problem(request, 403, "Refused", [str(error)])
    if isinstance(error, RequestValidationError):
        return problem(request, 422, TITLES[422], validation_messages(error.errors()))
    if isinstance(error, TaskgateError):
        code, messages, headers = domain_messages(error)
        return problem(request, code, TITLES.get(code, "Error"), messages, headers=headers)
    if isinstance(error, DATABASE_ERRORS) and database_unavailable(error):
        return problem(
            request,
            503,
            TITLES[503],
            ["the task database is unavailable; nothing was changed, try again shortly"],
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return None


class HtmlRoute(APIRoute):
    """A dashboard route: what it raises is answered as HTML, as `html_error` says."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                answer = html_error(request, error)
                if answer is None:
                    raise
                return answer

        return answered
