"""The HTTP client of the API: every request, and every failure turned into one line."""

import contextlib
import errno
import json
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from cli.exits import CliError, UsageError
from cli.problems import describe

# Seconds a request may take beyond any long poll it asks for.
REQUEST_TIMEOUT = 30.0
# FastAPI's answer for a path it has no route for; Taskgate's own 404s say what is missing.
NO_ROUTE = "Not Found"
# The URL prefix of every endpoint the commands use.
API = "/api/v1"


class ApiError(CliError):
    """Taskgate answered with an error status."""

    def __init__(self, response: httpx.Response, message: str, body: Any) -> None:
        super().__init__(message)
        self.status = response.status_code
        self.body = body
        self.retry_after = response.headers.get("retry-after")

    @property
    def transient(self) -> bool:
        """Whether asking again later may work (rate limited, unavailable, failing)."""
        return self.status == 429 or self.status >= 500


class Unreachable(CliError):
    """No answer from Taskgate: not listening, wrong host, timed out, connection lost."""


def _reason(error: httpx.TransportError) -> str:
    """Why a connection failed, the way a person says it."""
    cause: BaseException | None = error
    while cause is not None:
        code = getattr(cause, "errno", None)
        if code == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    text = str(error).strip()
    if "refused" in text.lower():
        return "connection refused"
    return text or type(error).__name__


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase


class Api:
    """A connection to one Taskgate API, with one key (or none)."""

    def __init__(self, url: str, key: str | None) -> None:
        try:
            parsed = httpx.URL(url) if "://" in url else None
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise UsageError(f"--url {url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        key = (key or "").strip()
        if not (key.isascii() and key.isprintable()):
            raise UsageError("--key holds characters no API key has (keys look like tg_…)")
        self.key_given = bool(key)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=REQUEST_TIMEOUT)

    def __enter__(self) -> "Api":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send a request; ApiError for an error answer, Unreachable for none."""
        content = None if body is None else json.dumps(body, allow_nan=False)
        headers = {} if content is None else {"Content-Type": "application/json"}
        try:
            response = self._http.request(
                method,
                path,
                params=params,
                content=content,
                headers=headers,
                timeout=timeout or REQUEST_TIMEOUT,
            )
        except httpx.TimeoutException:
            raise Unreachable(
                f"Taskgate at {self.url} did not answer within {timeout or REQUEST_TIMEOUT:g} s"
            ) from None
        except httpx.TransportError as error:
            raise Unreachable(f"cannot reach Taskgate at {self.url}: {_reason(error)}") from None
        if response.status_code >= 400:
            raise self._error(method, path, response)
        return response

    @contextlib.contextmanager
    def stream(
        self, path: str, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """A GET whose answer is read as it arrives (Server-Sent Events); ApiError for an
        error answer, Unreachable for none, or for a stream silent for REQUEST_TIMEOUT s."""
        try:
            with self._http.stream("GET", path, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error("GET", path, response)
                yield response
        except httpx.TimeoutException:
            raise Unreachable(
                f"Taskgate at {self.url} went silent for {REQUEST_TIMEOUT:g} s"
            ) from None
        except httpx.TransportError as error:
            raise Unreachable(f"cannot reach Taskgate at {self.url}: {_reason(error)}") from None

    def exchange(self, method: str, path: str, **options: Any) -> tuple[int, Any]:
        """The status and JSON body of a request's answer (None for an empty one)."""
        response = self.request(method, path, **options)
        if not response.content:
            return response.status_code, None
        try:
            return response.status_code, response.json()
        except ValueError:
            raise CliError(
                f"{self.url} answered {method} {path} with something other than JSON: is it "
                "a Taskgate API?"
            ) from None

    def json(self, method: str, path: str, **options: Any) -> Any:
        """The JSON body of a request's answer."""
        return self.exchange(method, path, **options)[1]

    def get(self, path: str, params: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """The JSON body of a GET."""
        return self.json("GET", path, params=params, **options)

    def _error(self, method: str, path: str, response: httpx.Response) -> ApiError:
        body = _body(response)
        said = body.get("detail") if isinstance(body, dict) else None
        if response.status_code == 404 and said in (None, NO_ROUTE):
            message = f"not found: {self.url} has no {method} {path}; is it a Taskgate API?"
        else:
            message = describe(
                response.status_code,
                body,
                retry_after=response.headers.get("retry-after"),
                key_given=self.key_given,
            )
        return ApiError(response, message, body)
