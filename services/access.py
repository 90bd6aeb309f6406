"""Who is asking, and what they may do: the principal an API key stands for."""

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import key_tenants
from db.models import Role
from services.errors import ForbiddenError

RANK = {Role.READ: 0, Role.WRITE: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """A key's holder: its tenant, its role, and whether it sees every tenant."""

    tenant: str
    role: Role
    all_tenants: bool = False
    key_id: uuid.UUID | None = None

    @property
    def scope(self) -> str | None:
        """The tenant whose tasks it sees; None: every tenant's (an operator)."""
        return None if self.all_tenants else self.tenant

    def may(self, role: Role) -> bool:
        """Whether its role includes `role`."""
        return RANK[self.role] >= RANK[role]

    def require(self, role: Role, *, doing: str) -> None:
        """ForbiddenError unless its role includes `role`."""
        if not self.may(role):
            raise ForbiddenError(
                f"{doing} needs a key with the {role} role (or above); this key's role is "
                f"{self.role}"
            )

    def sees_traceback_of(self, tenant: str) -> bool:
        """Tracebacks are shown to the task's own tenant only, operators included."""
        return tenant == self.tenant


# With AUTH_ENABLED=false every request is this: an operator of no tenant (local use only).
UNAUTHENTICATED = Principal(tenant="", role=Role.ADMIN, all_tenants=True)


def selected_tenants(principal: Principal, asked: Collection[str] = ()) -> frozenset[str] | None:
    """The tenants a bulk action may touch: the principal's own, or for an operator those
    `asked` for (None: every tenant)."""
    if principal.scope is None:
        return frozenset(asked) if asked else None
    return frozenset(asked) & {principal.scope} if asked else frozenset({principal.scope})


def acting_tenant(principal: Principal, asked: str | None) -> str:
    """The one tenant an action is for: the key's own, or the one an operator asked for."""
    if asked is None or asked == principal.tenant:
        return principal.tenant
    if not principal.all_tenants:
        raise ForbiddenError("only an operator key may act for another tenant (tenant)")
    return asked


async def visible_tenants(
    *, session: AsyncSession, principal: Principal, asked: Collection[str] = ()
) -> frozenset[str]:
    """The tenants whose tasks a listing shows: the principal's own, or for an operator
    every tenant (each one a key was made for, and ""); only those `asked` for, if any."""
    scope = principal.scope
    allowed = frozenset(await key_tenants(session=session)) if scope is None else {scope}
    return frozenset(asked) & allowed if asked else frozenset(allowed)
