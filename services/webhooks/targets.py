"""Where a webhook may send: an http(s) URL whose host is, and resolves only to, public
addresses, unless WEBHOOK_ALLOW_PRIVATE lifts that. Otherwise any API key could make
Taskgate post to its own network (SSRF): the database, the broker's management port, a
cloud's metadata service."""

import asyncio
import ipaddress
import socket

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2000
RESOLVE_TIMEOUT_SECONDS = 5.0
LIFTED_BY = "WEBHOOK_ALLOW_PRIVATE=true"
REFUSED_KINDS = "loopback, private, link-local, multicast, reserved or unspecified addresses"
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64).
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetError(Exception):
    """The URL may not be sent to; the message says why."""


def parse_url(url: str) -> httpx.URL:
    """The URL, if it is http(s) with a host and without credentials; TargetError if not."""
    if len(url) > MAX_URL_CHARS:
        raise TargetError(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as error:
        raise TargetError(f"not a URL: {error}") from None
    if parsed.scheme not in ("http", "https") or "://" not in url:
        raise TargetError("use an http:// or https:// URL")
    if not parsed.host:
        raise TargetError("the URL has no host")
    if parsed.userinfo:
        # A read key lists webhooks: credentials in them would be shown to it.
        raise TargetError("leave credentials out of the URL; check the signature instead")
    return parsed


def refusal(address: IPAddress) -> str | None:
    """What kind of address webhooks may not target `address` is (None: they may)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return refusal(embedded)
    for kind, refused in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    ):
        if refused:
            return kind
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo's client, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def literal_address(host: str) -> IPAddress | None:
    """The host as an IP address, if it is one."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host` (itself, if it is one); TargetError if it has none."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as error:
        raise TargetError(f"the host {host} does not resolve ({error or 'timed out'})") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise TargetError(f"the host {host} does not resolve")
    return addresses


async def allowed_addresses(url: httpx.URL, *, allow_private: bool) -> list[IPAddress]:
    """The addresses `url` may be sent to: all its host resolves to, each one allowed;
    TargetError naming the first that is not, and why."""
    host = url.raw_host.decode("ascii")
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise _refused(host, "loopback", None)
    addresses = await resolve(host, url.port or (443 if url.scheme == "https" else 80))
    if not allow_private:
        for address in addresses:
            kind = refusal(address)
            if kind is not None:
                raise _refused(host, kind, address)
    return addresses


def _refused(host: str, kind: str, address: IPAddress | None) -> TargetError:
    named = host if address is None or str(address) == host else f"{host} ({address})"
    article = "an" if kind[0] in "aeiou" else "a"
    return TargetError(
        f"{named} is {article} {kind} address: webhooks may not target {REFUSED_KINDS} "
        f"({LIFTED_BY} allows them)"
    )
