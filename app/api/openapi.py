"""The OpenAPI document, with every handler's payload model in it.

Handlers are registered at run time (TASKGATE_HANDLERS), so their payload models cannot be
in the route signatures; they are added to the generated document instead: one component
per handler, and the submit's `payload` points at them.
"""

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from config.settings import Settings, get_settings
from services.handlers.loader import load_handlers

REF_TEMPLATE = "#/components/schemas/{model}"


def payload_component(handler_name: str) -> str:
    """The component name of a handler's payload model."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", handler_name) + ".payload"


def install_openapi(app: FastAPI, settings: Settings | None = None) -> None:
    """Make `app.openapi()` include the payload models of the handlers `settings` load."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            _add_payload_models(document, (settings or get_settings()).handler_modules)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_payload_models(document: dict[str, Any], handler_modules: list[str]) -> None:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    refs, described = [], []
    for handler in load_handlers(handler_modules).all():
        schema = handler.payload_adapter.json_schema(ref_template=REF_TEMPLATE)
        components.update(schema.pop("$defs", {}))
        name = payload_component(handler.name)
        components[name] = {**schema, "title": f"Payload of {handler.name}"}
        refs.append({"$ref": REF_TEMPLATE.format(model=name)})
        described.append(f"`{handler.name}`: {name}")
    payload = components["TaskSubmit"]["properties"]["payload"]
    payload["anyOf"] = refs
    payload["description"] = (
        f"{payload.get('description', '')} It must match the payload model of the handler "
        f"named by `name` ({'; '.join(described)})."
    )
