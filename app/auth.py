"""Who is calling: the API key of a request, checked, and the principal it stands for.

Keys are read from PostgreSQL and kept in memory while this process's LISTEN connection is
up: a revoked key is announced on KEY_CHANGED_CHANNEL (a trigger), and every API process
forgets it at once. While the connection is down nothing is kept, so a revocation is never
missed; every request then reads its key afresh.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from config import names
from config.settings import Settings
from db.keys import KeyRecord, key_by_prefix
from db.models import Role
from db.session import Database
from services.access import UNAUTHENTICATED, Principal
from services.errors import NotAuthenticatedError
from services.keys import matches, parse_key, principal_of
from services.observability.correlation import note_tenant
from services.rate_limits import RateLimiter

BEARER = "bearer "


class KeyCache:
    """Keys by prefix, trusted only while revocations can be heard (`hearing`). A lookup
    that started before a revocation never stores what it read (the generation says)."""

    def __init__(self, hearing: Callable[[], bool]) -> None:
        self._keys: dict[str, KeyRecord] = {}
        self._generation = 0
        self._hearing = hearing

    def get(self, prefix: str) -> KeyRecord | None:
        return self._keys.get(prefix) if self._hearing() else None

    def put(self, prefix: str, record: KeyRecord, generation: int) -> None:
        if self._hearing() and generation == self._generation:
            self._keys[prefix] = record

    @property
    def generation(self) -> int:
        return self._generation

    def notice(self, payload: str) -> None:
        """A key changed (its id is `payload`): forget every key, to be read again."""
        self._forget()

    def gap(self) -> None:
        """Listening (again): what was heard before may be stale."""
        self._forget()

    def _forget(self) -> None:
        self._generation += 1
        self._keys.clear()


class Authenticator:
    """Checks each request's key (when AUTH_ENABLED) and spends its rate-limit token."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        limiter: RateLimiter,
        hearing: Callable[[], bool],
    ) -> None:
        self.enabled = settings.auth_enabled
        self.cache = KeyCache(hearing)
        self._database = database
        self._limiter = limiter

    async def principal(self, request: Request) -> Principal:
        """The principal of the request's key; NotAuthenticatedError if it has none that
        holds, RateLimitedError if the key is over its rate."""
        if not self.enabled:
            return UNAUTHENTICATED
        presented = _presented_key(request)
        if presented is None:
            raise NotAuthenticatedError(
                f"an API key is required: send `Authorization: Bearer <key>` or "
                f"`{names.API_KEY_HEADER}: <key>` (make one with `taskgate keys create`)"
            )
        return await self.check(presented)

    async def check(self, presented: str) -> Principal:
        """The principal of a key as a client presented it (a request's header, the
        dashboard's login form); NotAuthenticatedError, or RateLimitedError."""
        parsed = parse_key(presented)
        record = None if parsed is None else await self._record(parsed.prefix)
        if parsed is None or record is None or record.revoked or not matches(record, parsed):
            raise NotAuthenticatedError("the API key is not valid (unknown, or revoked)")
        await self._limiter.admit(record.id)
        return principal_of(record)

    async def recheck(self, prefix: str, key_id: uuid.UUID) -> Principal:
        """The principal of a key checked before (a dashboard session names it), as long as
        it exists and is not revoked: read through the same cache, so a revocation counts
        at once. NotAuthenticatedError, or RateLimitedError."""
        record = await self._record(prefix)
        if record is None or record.revoked or record.id != key_id:
            raise NotAuthenticatedError("the API key of this session was revoked")
        await self._limiter.admit(record.id)
        return principal_of(record)

    async def _record(self, prefix: str) -> KeyRecord | None:
        cached = self.cache.get(prefix)
        if cached is not None:
            return cached
        generation = self.cache.generation
        async with self._database.connection() as connection:
            record = await key_by_prefix(connection=connection, prefix=prefix)
        if record is not None:
            self.cache.put(prefix, record, generation)
        return record


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None and authorization.lower().startswith(BEARER):
        return authorization[len(BEARER) :].strip() or None
    return request.headers.get(names.API_KEY_HEADER) or None


def require(role: Role, doing: str) -> Any:
    """A dependency: the request's principal, which must hold `role` to be `doing` this."""

    async def principal(request: Request) -> Principal:
        authenticator: Authenticator = request.app.state.runtime.authenticator
        found = await authenticator.principal(request)
        # The request's log lines from here on name the tenant it acts for.
        note_tenant(found.tenant)
        found.require(role, doing=doing)
        return found

    return Depends(principal)


Reader = Annotated[Principal, require(Role.READ, "reading tasks")]
Writer = Annotated[Principal, require(Role.WRITE, "submitting, cancelling or replaying tasks")]
Admin = Annotated[
    Principal,
    require(Role.ADMIN, "purging, bulk replays, queue-wide stats, queue controls and keys"),
]
