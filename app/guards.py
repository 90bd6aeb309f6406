"""What every HTTP request passes before any route: a Host the deployment answers to (a web
page cannot reach a local Taskgate by DNS rebinding), and a body no larger than the limit.
Plain ASGI middlewares: they cost a request next to nothing."""

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HostGuard:
    """Refuses (400) a request whose Host is not one of ALLOWED_HOSTS (`*` allows any;
    `*.example.com` allows its subdomains)."""

    def __init__(self, app: ASGIApp, *, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)
        self.any = "*" in self.allowed
        self.suffixes = tuple(host[1:] for host in self.allowed if host.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        host = _host_name(_header(scope, b"host") or "")
        if host in self.allowed or (self.suffixes and host.endswith(self.suffixes)):
            await self.app(scope, receive, send)
            return
        await _answer(
            send,
            400,
            f"requests for host {host!r} are not served here: add it to ALLOWED_HOSTS "
            "(a comma-separated list) if this deployment answers to it",
        )


def _host_name(host: str) -> str:
    """The host of a Host header, without its port, in lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BodyLimit:
    """Answers 413 for a request body larger than `max_bytes`, before any route reads it: a
    declared Content-Length is checked at once, a chunked body is read up to the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        messages = await self._read_up_to_limit(receive)
        if messages is None:
            await self._refuse(send)
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _read_up_to_limit(self, receive: Receive) -> list[Message] | None:
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, send: Send) -> None:
        await _answer(
            send,
            413,
            f"the request body is larger than {self.max_bytes} bytes (MAX_REQUEST_BYTES); "
            "send fewer tasks per batch, or a smaller payload",
        )


def _replay(messages: list[Message], receive: Receive) -> Any:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
