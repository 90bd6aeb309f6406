"""Requests and their latency, by method, route template (`/api/v1/result/{result_uuid}`,
never the path itself: ids would make a series each) and status class. A plain ASGI
middleware."""

import functools
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What a request no route took (404, or refused by a guard before routing) is counted as.
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "taskgate_http_requests_total",
    "HTTP requests answered, by method, route template and status class (2xx, 4xx, ...).",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "taskgate_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template "
    "(long polls wait up to their ?wait=).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def route_of(scope: Scope) -> str:
    """The template of the route that took the request, as the router left it on the scope:
    a template, never a path, so its values are bounded by the routes."""
    # FastAPI's routers keep their routes' own paths, relative to the router's prefix; what
    # FastAPI matched against (prefixes included) is its effective route context.
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    route = scope.get("route")
    for candidate in (effective, route):
        template = getattr(candidate, "path_format", None) or getattr(candidate, "path", None)
        if isinstance(template, str):
            return template
    return UNMATCHED


class HttpMetrics:
    """Counts every HTTP request and times it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, answering)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            counted, timed = _series(method, route_of(scope), status // 100)
            counted.inc()
            timed.observe(time.perf_counter() - started)


@functools.lru_cache(maxsize=1024)
def _series(method: str, route: str, status_class: int) -> tuple[Any, Any]:
    """The counter and the histogram of one method, route and status class, looked up once
    (a lookup costs more than the increment). Bounded: methods, routes and classes are."""
    return (
        REQUESTS.labels(method=method, route=route, status=f"{status_class}xx"),
        LATENCY.labels(method=method, route=route),
    )
