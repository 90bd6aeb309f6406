"""The one place where domain errors become HTTP answers."""

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from app.services.errors import (
    InvalidCursorError,
    InvalidPayloadError,
    TaskgateError,
    TaskNotFoundError,
    UnknownHandlerError,
)


def _detail(loc: list[Any], msg: str, type_: str, **extra: Any) -> list[dict[str, Any]]:
    """FastAPI's validation-error shape, so clients parse one format for every 422."""
    return [{"loc": loc, "msg": msg, "type": type_, **extra}]


def error_response(error: TaskgateError) -> JSONResponse:
    """The HTTP answer for a domain error."""
    if isinstance(error, TaskNotFoundError):
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_404_NOT_FOUND)
    if isinstance(error, UnknownHandlerError):
        detail = _detail(["body", "name"], str(error), "unknown_handler", known=error.known)
    elif isinstance(error, InvalidPayloadError):
        detail = [
            {
                "loc": ["body", "payload", *item["loc"]],
                "msg": item["msg"],
                "type": item["type"],
            }
            for item in error.errors
        ]
    elif isinstance(error, InvalidCursorError):
        detail = _detail(["query", "cursor"], str(error), "invalid_cursor")
    else:
        detail = _detail([], str(error), "invalid")
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, TaskgateError)
        return error_response(error)

    app.add_exception_handler(TaskgateError, handle)
