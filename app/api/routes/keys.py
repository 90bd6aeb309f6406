"""API keys over HTTP, for admin keys: make, list, revoke (`taskgate keys` does the same)."""

from uuid import UUID

from fastapi import APIRouter, status

from app.api.deps import SessionDep
from app.api.responses import AUTH
from app.auth import Admin
from app.schemas import KeyCreate, KeyCreated, KeyOut
from services import keys

router = APIRouter(prefix="/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated, responses=AUTH)
async def create_key(body: KeyCreate, session: SessionDep, principal: Admin) -> KeyCreated:
    """Make a key; the answer holds its secret, shown this once."""
    made = await keys.create_key(
        session=session,
        tenant=body.tenant or principal.tenant,
        role=body.role,
        all_tenants=body.all_tenants,
        name=body.name,
        creator=principal,
    )
    return KeyCreated.model_validate(
        {**KeyOut.model_validate(made.record).model_dump(), "key": made.key}
    )


@router.get("", response_model=list[KeyOut], responses=AUTH)
async def list_keys(session: SessionDep, principal: Admin) -> list[KeyOut]:
    """The keys of this key's tenant (an operator's: every tenant's), newest first."""
    found = await keys.list_keys(session=session, tenant=principal.scope)
    return [KeyOut.model_validate(key) for key in found]


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**AUTH, 404: {"description": "No such key (of this key's tenant)."}},
)
async def revoke_key(key_id: UUID, session: SessionDep, principal: Admin) -> None:
    """Revoke a key: every API process refuses it from now on."""
    await keys.revoke_key(session=session, key_id=key_id, tenant=principal.scope)
