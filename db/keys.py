"""Every statement on the API keys, their rate buckets and the tenants' load."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApiKey, TenantLoad

# Refill the key's bucket for the time since it was last touched (up to its burst), take up
# to $4 whole tokens from it; how many were taken, and how many are left.
LEASE_TOKENS = """
WITH refilled AS (
    SELECT least($3::float8, tokens + $2::float8 * extract(
        epoch FROM clock_timestamp() - refreshed_at)) AS available
    FROM rate_buckets WHERE key_id = $1 FOR UPDATE
)
UPDATE rate_buckets SET
    tokens = refilled.available - least($4::float8, floor(refilled.available)),
    refreshed_at = clock_timestamp()
FROM refilled WHERE key_id = $1
RETURNING least($4::float8, floor(refilled.available)) AS granted, tokens AS left
"""
# A bucket not seen before starts full.
NEW_BUCKET = """
INSERT INTO rate_buckets (key_id, tokens, refreshed_at) VALUES ($1, $2, clock_timestamp())
ON CONFLICT (key_id) DO NOTHING
"""
KEY_BY_PREFIX = """
SELECT id, secret_hash, tenant, role, all_tenants, revoked_at IS NOT NULL AS revoked
FROM api_keys WHERE prefix = $1
"""


@dataclass(frozen=True)
class KeyRecord:
    """What a request's key says about its holder."""

    id: uuid.UUID
    secret_hash: str
    tenant: str
    role: str
    all_tenants: bool
    revoked: bool


async def insert_key(
    *,
    session: AsyncSession,
    key_id: uuid.UUID,
    prefix: str,
    secret_hash: str,
    tenant: str,
    role: str,
    all_tenants: bool,
    name: str,
) -> ApiKey:
    """Record a key (not committed); its tenant gets a load row if it has none."""
    key = ApiKey(
        id=key_id,
        prefix=prefix,
        secret_hash=secret_hash,
        tenant=tenant,
        role=role,
        all_tenants=all_tenants,
        name=name,
    )
    session.add(key)
    await session.execute(
        insert(TenantLoad).values(tenant=tenant).on_conflict_do_nothing(index_elements=["tenant"])
    )
    await session.flush()
    return key


async def key_by_prefix(*, connection: Any, prefix: str) -> KeyRecord | None:
    """The key whose prefix this is, revoked or not (on an asyncpg connection)."""
    row = await connection.fetchrow(KEY_BY_PREFIX, prefix)
    return None if row is None else KeyRecord(**dict(row))


async def list_keys(*, session: AsyncSession, tenant: str | None) -> list[ApiKey]:
    """The keys of a tenant (None: of every tenant), newest first."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    if tenant is not None:
        query = query.where(ApiKey.tenant == tenant)
    return list(await session.scalars(query))


async def revoke_key(*, session: AsyncSession, key_id: uuid.UUID, tenant: str | None) -> bool:
    """Revoke the key (of `tenant`, unless None); False if there is no such key. A trigger
    tells every API process at once (NOTIFY)."""
    query = (
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(revoked_at=func.coalesce(ApiKey.revoked_at, func.now()))
        .returning(ApiKey.id)
    )
    if tenant is not None:
        query = query.where(ApiKey.tenant == tenant)
    return (await session.execute(query)).one_or_none() is not None


async def key_tenants(*, session: AsyncSession) -> list[str]:
    """Every tenant a key was ever made for, and "" (tasks of no tenant)."""
    tenants = await session.scalars(select(ApiKey.tenant).distinct())
    return sorted({"", *tenants})


@dataclass(frozen=True)
class Lease:
    """Tokens taken from a key's bucket, and those left in it."""

    granted: int
    left: float


async def lease_tokens(
    *, connection: Any, key_id: uuid.UUID, rate: float, burst: int, wanted: int
) -> Lease:
    """Take up to `wanted` whole tokens from the key's bucket, each statement committed on
    its own (on an asyncpg connection)."""
    row = await connection.fetchrow(LEASE_TOKENS, key_id, rate, burst, wanted)
    if row is None:
        await connection.execute(NEW_BUCKET, key_id, float(burst))
        row = await connection.fetchrow(LEASE_TOKENS, key_id, rate, burst, wanted)
    return Lease(granted=int(row["granted"]), left=float(row["left"]))


async def unfinished_counts(*, session: AsyncSession, tenants: Sequence[str]) -> dict[str, int]:
    """How many unfinished tasks each tenant has."""
    rows = await session.execute(
        select(TenantLoad.tenant, TenantLoad.unfinished).where(TenantLoad.tenant.in_(tenants))
    )
    return {tenant: int(unfinished) for tenant, unfinished in rows}
