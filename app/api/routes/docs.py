"""The AsyncAPI document of the workers' messages, served beside OpenAPI."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from faststream.specification import get_asyncapi_html

from app.api.deps import RuntimeDep

router = APIRouter(tags=["docs"])


@router.get("/asyncapi.json")
def asyncapi_schema(runtime: RuntimeDep) -> dict[str, Any]:
    """The AsyncAPI schema: exchanges, queues and message payloads."""
    schema: dict[str, Any] = runtime.asyncapi().to_jsonable()
    return schema


@router.get("/asyncapi", response_class=HTMLResponse)
def asyncapi_page(runtime: RuntimeDep) -> str:
    """The AsyncAPI schema as a browsable page."""
    return get_asyncapi_html(runtime.asyncapi(), try_it_out_path=None)
