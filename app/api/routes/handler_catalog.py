"""The task handlers this deployment knows."""

from fastapi import APIRouter

from app.api.responses import AUTH
from app.auth import Reader
from app.schemas import HandlerOut
from services.handlers.registry import registry

router = APIRouter(prefix="/handlers", tags=["handlers"])


@router.get("", response_model=list[HandlerOut], responses=AUTH)
async def get_handlers(_: Reader) -> list[HandlerOut]:
    """List the handlers, with their retry policy, timeout and payload JSON Schema."""
    return [HandlerOut.from_handler(handler) for handler in registry.all()]
