"""A webhook receiver on 127.0.0.1 for the tests: a small HTTP/1.1 server in the tests' event
loop that records every request and answers each path as a test scripts it."""

import asyncio
import contextlib
import json
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

# An answer: its status code, and its headers.
Answer = tuple[int, dict[str, str]]
OK: Answer = (200, {})


@dataclass(frozen=True)
class Received:
    """One request as it arrived: headers with lower-case names, the raw body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records requests by path; answers a path with what `script` queued for it, then 200."""

    def __init__(self) -> None:
        self.port = 0
        self._received: dict[str, list[Received]] = defaultdict(list)
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self.connections: set[asyncio.StreamWriter] = set()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: int | Answer) -> None:
        """Answer the next requests to `path` with these (a status code, or one with headers)."""
        for answer in answers:
            self._scripts[path].append((answer, {}) if isinstance(answer, int) else answer)

    def at(self, path: str) -> list[Received]:
        """The requests to `path` so far, in order."""
        return list(self._received[path])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *lines = head.strip().split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self._received[path].append(Received(method, path, headers, body))
                script = self._scripts[path]
                code, extra = script.popleft() if script else OK
                writer.write(_response(code, extra))
                await writer.drain()
        self.connections.discard(writer)
        writer.close()


def _response(code: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {code} Scripted", "Content-Length: 0"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1 until the block ends."""
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        for connection in list(receiver.connections):
            connection.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
