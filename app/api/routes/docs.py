"""The documentation pages (Swagger UI, AsyncAPI) and the AsyncAPI document.

Every asset the pages load is served by Taskgate itself from /static (vendored at build
time by `make assets`), and the pages' Content-Security-Policy lets the browser fetch
nothing from anywhere else: the documentation works on a machine without internet.
"""

from html import escape
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api.deps import RuntimeDep

router = APIRouter(tags=["docs"])

VENDOR = "/static/vendor"
OWN = "/static/docs"

# Swagger UI and the AsyncAPI component set inline styles; no script is inline. The
# AsyncAPI component compiles JSON Schemas to functions, so its page also needs eval.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'{eval}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _page(title: str, head: str, body: str, *, needs_eval: bool = False) -> HTMLResponse:
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" type="image/png" href="{VENDOR}/favicon.png">
{head}
</head>
<body>
{body}
</body>
</html>
"""
    policy = CONTENT_SECURITY_POLICY.format(eval=" 'unsafe-eval'" if needs_eval else "")
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


@router.get("/docs", include_in_schema=False)
async def swagger_ui() -> HTMLResponse:
    """The OpenAPI document in Swagger UI."""
    return _page(
        "Taskgate API",
        f'<link rel="stylesheet" href="{VENDOR}/swagger-ui/swagger-ui.css">',
        f'<div id="swagger-ui" data-openapi-url="/openapi.json"></div>\n'
        f'<script src="{VENDOR}/swagger-ui/swagger-ui-bundle.js"></script>\n'
        f'<script src="{OWN}/swagger-init.js"></script>',
    )


@router.get("/redoc", include_in_schema=False)
async def redoc() -> RedirectResponse:
    """ReDoc's usual address: its bundle loads its logo from a CDN, so /docs serves instead."""
    return RedirectResponse("/docs")


@router.get("/asyncapi.json")
def asyncapi_schema(runtime: RuntimeDep) -> dict[str, Any]:
    """The AsyncAPI schema: exchanges, queues and message payloads."""
    schema: dict[str, Any] = runtime.asyncapi().to_jsonable()
    return schema


@router.get("/asyncapi", response_class=HTMLResponse)
async def asyncapi_page() -> HTMLResponse:
    """The AsyncAPI schema as a browsable page."""
    return _page(
        "Taskgate AsyncAPI",
        f'<link rel="stylesheet" href="{VENDOR}/asyncapi/default.min.css">\n'
        f'<link rel="stylesheet" href="{OWN}/asyncapi.css">',
        f'<div id="asyncapi" data-schema-url="/asyncapi.json"></div>\n'
        f'<script src="{VENDOR}/asyncapi/standalone.js"></script>\n'
        f'<script src="{OWN}/asyncapi-init.js"></script>',
        needs_eval=True,
    )
