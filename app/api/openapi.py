"""The OpenAPI document, as precise as the API: a request it calls valid is accepted.

Handlers are registered at run time (TASKGATE_HANDLERS), so their payload models cannot be
in the route signatures; they are added to the generated document instead: one component
per handler, and a submit is one of a variant per handler (its `name`, its payload model).
The named queues, the limits from the settings and the security schemes go in too.
"""

import re
from copy import deepcopy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from config import names
from config.settings import Settings, get_settings
from services.handlers.loader import load_handlers
from services.handlers.registry import TaskHandler
from services.named_queues import known_queues

REF_TEMPLATE = "#/components/schemas/{model}"
# The handler a submit without a `name` runs.
DEFAULT_HANDLER = "emulate"
# delay_seconds and run_at are each allowed, not both.
BOTH_SCHEDULES = {
    "properties": {"delay_seconds": {"type": "number"}, "run_at": {"type": "string"}},
    "required": ["delay_seconds", "run_at"],
}
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`taskgate keys create`): `Authorization: Bearer tg_…`.",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": names.API_KEY_HEADER},
}
BAD_BODY = {"description": "The body is not JSON (or not UTF-8)."}
# Text PostgreSQL stores: any but the NUL character.
NO_NUL = r"^[^\x00]*$"
STORABLE_JSON = "StorableJSON"
STORABLE_REF = {"$ref": REF_TEMPLATE.format(model=STORABLE_JSON)}
STORABLE_OBJECT = {
    "type": "object",
    "propertyNames": {"pattern": NO_NUL},
    "additionalProperties": STORABLE_REF,
}
STORABLE_JSON_SCHEMA = {
    "title": STORABLE_JSON,
    "description": "Any JSON value PostgreSQL stores: no NUL character in a string or key.",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": STORABLE_REF},
        STORABLE_OBJECT,
    ],
}


def payload_component(handler_name: str) -> str:
    """The component name of a handler's payload model."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", handler_name) + ".payload"


def install_openapi(app: FastAPI, settings: Settings | None = None) -> None:
    """Make `app.openapi()` describe the handlers, queues, limits and security of
    `settings`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            configured = settings or get_settings()
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            handlers = load_handlers(configured.handler_modules).all()
            _describe_submits(document, handlers, configured)
            _describe_scheduled_tasks(document, handlers, configured)
            _describe_security(document, configured)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _describe_submits(
    document: dict[str, Any], handlers: list[TaskHandler], settings: Settings
) -> None:
    """TaskSubmit becomes one variant per handler: its name, its payload model."""
    schemas = document["components"]["schemas"]
    submit = schemas["TaskSubmit"]
    common = deepcopy(
        {k: v for k, v in submit["properties"].items() if k not in ("name", "payload")}
    )
    common["queue"]["anyOf"][0] = {"type": "string", "enum": known_queues(settings)}
    common["max_attempts"]["anyOf"][0]["maximum"] = settings.max_attempts_limit
    variants = []
    for handler in handlers:
        payload = _payload_component(schemas, handler)
        properties = {
            **common,
            "name": {"const": handler.name, "type": "string", "description": "The handler."},
            "payload": {"$ref": REF_TEMPLATE.format(model=payload)},
        }
        variants.append(_variant(f"Submit of {handler.name}", properties, schemas[payload]))
        if handler.name == DEFAULT_HANDLER:
            unnamed = {k: v for k, v in properties.items() if k != "name"}
            variants.append(_variant("Submit without a name (emulate)", unnamed, schemas[payload]))
    schemas["TaskSubmit"] = {
        "title": "TaskSubmit",
        "description": f"{submit.get('description', '')} One variant per handler: `name` "
        "says which, and `payload` must fit that handler's payload model.",
        "oneOf": variants,
        "examples": submit.get("examples", []),
    }
    schemas["BatchSubmit"]["properties"]["tasks"]["maxItems"] = settings.max_batch_size
    for item in document["paths"].values():
        for operation in item.values():
            if "requestBody" in operation:
                operation["responses"].setdefault("400", BAD_BODY)


def _describe_scheduled_tasks(
    document: dict[str, Any], handlers: list[TaskHandler], settings: Settings
) -> None:
    """A schedule's task is one variant per handler too, as a submit is."""
    schemas = document["components"]["schemas"]
    task = schemas["ScheduledTaskIn"]
    common = deepcopy({k: v for k, v in task["properties"].items() if k not in ("name", "payload")})
    common["queue"]["anyOf"][0] = {"type": "string", "enum": known_queues(settings)}
    variants = []
    for handler in handlers:
        payload = _payload_component(schemas, handler)
        required = ["name", "payload"] if schemas[payload].get("required") else ["name"]
        properties = {
            **common,
            "name": {"const": handler.name, "type": "string", "description": "The handler."},
            "payload": {"$ref": REF_TEMPLATE.format(model=payload)},
        }
        variants.append(
            {
                "title": f"Scheduled {handler.name}",
                "type": "object",
                "additionalProperties": False,
                "properties": properties,
                "required": required,
            }
        )
    schemas["ScheduledTaskIn"] = {
        "title": "ScheduledTaskIn",
        "description": f"{task.get('description', '')} One variant per handler.",
        "oneOf": variants,
    }


def _payload_component(schemas: dict[str, Any], handler: TaskHandler) -> str:
    """Add the handler's payload model (and what it refers to), saying what PostgreSQL
    cannot store; its component's name."""
    schema = handler.payload_adapter.json_schema(ref_template=REF_TEMPLATE)
    for def_name, definition in schema.pop("$defs", {}).items():
        schemas[def_name] = _storable(definition)
    schemas.setdefault(STORABLE_JSON, STORABLE_JSON_SCHEMA)
    name = payload_component(handler.name)
    schemas[name] = {**_storable(schema), "title": f"Payload of {handler.name}"}
    return name


def _storable(schema: Any) -> Any:
    """The schema, with what its free-form parts may hold said: any JSON value that
    PostgreSQL stores (no NUL in a string or a key)."""
    if not isinstance(schema, dict):
        return schema
    if not schema or schema.get("additionalProperties") is True:
        free = schema.get("type") == "object" or not schema
        if free and not schema.get("properties"):
            return {**schema, **STORABLE_OBJECT} if schema else STORABLE_REF
    node = {key: _storable_nested(key, value) for key, value in schema.items()}
    if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
        node["pattern"] = NO_NUL
    if node.get("type") == "array" and "items" not in node:
        node["items"] = STORABLE_REF
    if node.get("type") == "object" and "additionalProperties" not in node:
        # A model ignores the fields it does not name: they may be there, if storable.
        node.update(
            propertyNames=STORABLE_OBJECT["propertyNames"], additionalProperties=STORABLE_REF
        )
    return node


def _storable_nested(key: str, value: Any) -> Any:
    if key in ("properties", "$defs"):
        return {name: _storable(item) for name, item in value.items()}
    if key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        return [_storable(item) for item in value]
    if key in ("items", "additionalProperties", "not"):
        return _storable(value)
    return value


def _variant(title: str, properties: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    required = ["name"] if "name" in properties else []
    if payload.get("required"):
        # The payload's defaults cannot fill in a field the model requires.
        required.append("payload")
    return {
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": required,
        "not": BOTH_SCHEDULES,
    }


def _describe_security(document: dict[str, Any], settings: Settings) -> None:
    """Every /api/v1 operation needs a key (unless auth is off)."""
    if not settings.auth_enabled:
        return
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    for path, item in document["paths"].items():
        if path.startswith("/api/"):
            for operation in item.values():
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
