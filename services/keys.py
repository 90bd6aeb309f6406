"""API keys: made with a secret shown once, kept only as a hash, revoked at once.

A key reads `tg_<prefix>_<secret>`: the prefix (12 hex digits) finds its row, the secret
(32 random bytes) is checked against the SHA-256 kept there. SHA-256 rather than a slow
password hash: the secret is 256 random bits, which no dictionary guesses, and every
request checks a key.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from config import names
from db import keys
from db.keys import KeyRecord
from db.models import ApiKey, Role
from services.access import Principal
from services.errors import ForbiddenError, InvalidFieldError, KeyNotFoundError

PREFIX_BYTES = 6
SECRET_BYTES = 32


@dataclass(frozen=True)
class NewKey:
    """A key just made: its record, and the key itself (shown this once, never again)."""

    record: ApiKey
    key: str


@dataclass(frozen=True)
class PresentedKey:
    prefix: str
    secret: str


def parse_key(presented: str) -> PresentedKey | None:
    """The parts of a key as a client sent it; None if it is no Taskgate key at all."""
    parts = presented.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != names.API_KEY_MARK:
        return None
    _, prefix, secret = parts
    if not re.fullmatch(r"[0-9a-f]{12}", prefix) or not secret:
        return None
    return PresentedKey(prefix=prefix, secret=secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(record: KeyRecord, presented: PresentedKey) -> bool:
    """Whether the presented secret is the key's (in constant time)."""
    return hmac.compare_digest(record.secret_hash, secret_hash(presented.secret))


def principal_of(record: KeyRecord) -> Principal:
    return Principal(
        tenant=record.tenant,
        role=Role(record.role),
        all_tenants=record.all_tenants,
        key_id=record.id,
    )


async def create_key(
    *,
    session: AsyncSession,
    tenant: str,
    role: Role,
    all_tenants: bool = False,
    name: str = "",
    creator: Principal | None = None,
) -> NewKey:
    """Make a key, committed; `creator` (None: the command line, which may do anything) may
    not make a key above its own role, nor for another tenant unless it is an operator."""
    if not re.fullmatch(names.TENANT_NAME_PATTERN, tenant):
        raise InvalidFieldError(
            ["tenant"],
            "a tenant is 1-63 of a-z, 0-9, '_', '.' and '-', starting with a letter or digit",
        )
    if creator is not None:
        creator.require(role, doing=f"making a {role} key")
        if (tenant != creator.tenant or all_tenants) and not creator.all_tenants:
            raise ForbiddenError(
                "only an operator key (--all-tenants) may make keys for another tenant, or "
                "operator keys"
            )
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    record = await keys.insert_key(
        session=session,
        key_id=uuid.uuid4(),
        prefix=prefix,
        secret_hash=secret_hash(secret),
        tenant=tenant,
        role=role,
        all_tenants=all_tenants,
        name=name,
    )
    await session.commit()
    return NewKey(record=record, key=f"{names.API_KEY_MARK}_{prefix}_{secret}")


async def list_keys(*, session: AsyncSession, tenant: str | None) -> list[ApiKey]:
    """The keys of `tenant` (None: of every tenant), newest first; no secrets in them."""
    return await keys.list_keys(session=session, tenant=tenant)


async def revoke_key(*, session: AsyncSession, key_id: uuid.UUID, tenant: str | None) -> None:
    """Revoke the key (of `tenant`, unless None), committed; every API process stops
    accepting it at once. KeyNotFoundError if there is no such key."""
    if not await keys.revoke_key(session=session, key_id=key_id, tenant=tenant):
        await session.rollback()
        raise KeyNotFoundError(key_id)
    await session.commit()
