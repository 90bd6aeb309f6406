"""Every request's correlation id: the client's `X-Request-ID` when it is sane, else a new
one; echoed in the answer's `X-Request-ID`, carried by each log line written while the
request runs and by the messages of the tasks it submits. A plain ASGI middleware."""

import re
import uuid

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import names
from services.observability.correlation import correlated

HEADER = names.REQUEST_ID_HEADER.lower().encode()
SANE = re.compile(names.REQUEST_ID_PATTERN)


def request_id_of(scope: Scope) -> str:
    """The client's id if it sent one that is sane (no spaces, no control characters, not
    too long), else a new one."""
    for key, value in scope.get("headers", ()):
        if key == HEADER:
            given = value.decode("latin-1")
            return given if SANE.fullmatch(given) else uuid.uuid4().hex
    return uuid.uuid4().hex


class RequestCorrelation:
    """Sets the request's correlation id for everything it runs, and answers it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        echoed = (HEADER, request_id.encode())

        async def answering(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("taskgate.request_id", request_id)
        with correlated(request=request_id):
            await self.app(scope, receive, answering)
