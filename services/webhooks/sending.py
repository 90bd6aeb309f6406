"""One attempt at one delivery: the signed POST, to an address checked just before it.

The request goes to the address that was checked, not to the name again (the Host header
and, for https, the TLS server name and certificate check keep the name): a DNS answer
that changes between the check and the connection cannot steer it elsewhere.
"""

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from config import names
from db.webhooks import DueDelivery
from services.task_resource import task_resource
from services.webhooks.signing import signature
from services.webhooks.targets import (
    IPAddress,
    TargetError,
    allowed_addresses,
    literal_address,
    parse_url,
)


@dataclass(frozen=True)
class Outcome:
    """What came of an attempt: the receiver's status code and how long it took to answer,
    and the error, if it failed (None: delivered)."""

    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None


def delivery_body(delivery: DueDelivery) -> bytes:
    """The JSON body: the event, its id and time, and the task as the event left it."""
    return json.dumps(
        {
            "event": delivery.event,
            "event_id": str(delivery.event_id),
            "occurred_at": delivery.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "task": task_resource(delivery.task),
        },
        separators=(",", ":"),
    ).encode()


async def attempt(
    http: httpx.AsyncClient, delivery: DueDelivery, *, allow_private: bool
) -> Outcome:
    """POST the delivery once; a 2xx answer delivers it, anything else is a failure."""
    try:
        url = parse_url(delivery.url)
        addresses = await allowed_addresses(url, allow_private=allow_private)
    except TargetError as error:
        return Outcome(error=f"refused: {error}")
    body = delivery_body(delivery)
    headers = _headers(delivery, body)
    started = time.perf_counter()
    failure = ""
    for address in addresses:
        try:
            response = await http.send(_pinned(http, url, address, body, headers), stream=True)
        except httpx.ConnectError as error:
            # The host's next address may answer (an IPv6 one this machine cannot reach).
            failure = f"could not connect: {_reason(error)}"
            continue
        except httpx.TimeoutException:
            failure = f"no answer within {http.timeout.read:g} s"
        except httpx.HTTPError as error:
            failure = f"could not send: {_reason(error)}"
        else:
            # The answer's body is never read: nothing in it matters, and it could be large.
            await response.aclose()
            return _judged(response, latency_ms=_since(started))
        break
    return Outcome(latency_ms=_since(started), error=failure)


def _judged(response: httpx.Response, *, latency_ms: float) -> Outcome:
    """A 2xx delivers; a redirect is not followed: it fails, as any other answer does."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(status_code=code, latency_ms=latency_ms)
    error = f"answered {code}"
    if 300 <= code < 400:
        location = response.headers.get("location", "")[:200]
        error += f", a redirect to {location!r}: redirects are not followed"
    return Outcome(status_code=code, latency_ms=latency_ms, error=error)


def _headers(delivery: DueDelivery, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        names.HEADER_WEBHOOK_EVENT: delivery.event,
        names.HEADER_WEBHOOK_EVENT_ID: str(delivery.event_id),
        names.HEADER_WEBHOOK_SIGNATURE: signature(
            secret=delivery.secret, body=body, timestamp=int(datetime.now(UTC).timestamp())
        ),
    }


def _pinned(
    http: httpx.AsyncClient,
    url: httpx.URL,
    address: IPAddress,
    body: bytes,
    headers: dict[str, str],
) -> httpx.Request:
    """The POST to `url`, sent to `address`."""
    host = url.raw_host.decode("ascii")
    extensions = {}
    if url.scheme == "https" and literal_address(host) is None:
        extensions["sni_hostname"] = host
    return http.build_request(
        "POST",
        url.copy_with(host=str(address)),
        content=body,
        headers={**headers, "Host": url.netloc.decode("ascii")},
        extensions=extensions,
    )


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _reason(error: httpx.HTTPError) -> str:
    """The innermost cause of a transport error, in a line."""
    cause: BaseException = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text[:300]
