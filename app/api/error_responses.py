"""The one place where domain errors become HTTP answers."""

import functools
import logging
import re
from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.failures import DATABASE_ERRORS, database_unavailable
from services.errors import (
    ConflictingKeysError,
    ForbiddenError,
    IdempotencyConflictError,
    InvalidBatchError,
    InvalidCursorError,
    InvalidFieldError,
    InvalidFilterError,
    InvalidPayloadError,
    InvalidScheduledTaskError,
    KeyNotFoundError,
    NotAuthenticatedError,
    NotReplayableError,
    QueueNotFoundError,
    RateLimitedError,
    ScheduleNotFoundError,
    TaskChangedError,
    TaskFinishedError,
    TaskgateError,
    TaskNotDeadError,
    TaskNotFoundError,
    TenantBusyError,
    TooManyWebhooksError,
    UnknownHandlerError,
    UnknownQueueError,
    WebhookNotFoundError,
)
from services.payloads import make_storable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2


def _detail(loc: list[Any], msg: str, type_: str, **extra: Any) -> list[dict[str, Any]]:
    """FastAPI's validation-error shape, so clients parse one format for every 422."""
    return [{"loc": loc, "msg": msg, "type": type_, **extra}]


def _details(error: TaskgateError, task_loc: list[Any]) -> list[dict[str, Any]]:
    """422 details for an invalid task; `task_loc` is where the task sits in the request."""
    if isinstance(error, UnknownHandlerError):
        return _detail([*task_loc, "name"], str(error), "unknown_handler", known=error.known)
    if isinstance(error, UnknownQueueError):
        return _detail([*task_loc, "queue"], str(error), "unknown_queue", known=error.known)
    if isinstance(error, InvalidPayloadError):
        return [
            {"loc": [*task_loc, "payload", *item["loc"]], "msg": item["msg"], "type": item["type"]}
            for item in error.errors
        ]
    if isinstance(error, InvalidBatchError):
        return [
            detail
            for index, problem in error.problems
            for detail in _details(problem, [*task_loc, "tasks", index])
        ]
    if isinstance(error, InvalidScheduledTaskError):
        return _details(error.error, [*task_loc, "task"])
    if isinstance(error, InvalidCursorError):
        return _detail(["query", "cursor"], str(error), "invalid_cursor")
    if isinstance(error, InvalidFilterError):
        return _detail(["query", error.field], str(error), "invalid_filter")
    if isinstance(error, ConflictingKeysError):
        return _detail(["header", "Idempotency-Key"], str(error), "conflicting_keys")
    if isinstance(error, NotReplayableError):
        return _detail(["path", "task_id"], str(error), "not_replayable")
    if isinstance(error, InvalidFieldError):
        return _detail([*task_loc, *error.location], str(error), "invalid")
    return _detail([], str(error), "invalid")


def error_response(error: TaskgateError) -> JSONResponse:
    """The HTTP answer for a domain error."""
    if isinstance(
        error,
        TaskNotFoundError
        | KeyNotFoundError
        | ScheduleNotFoundError
        | WebhookNotFoundError
        | QueueNotFoundError,
    ):
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_404_NOT_FOUND)
    if isinstance(error, NotAuthenticatedError):
        return JSONResponse(
            {"detail": str(error)},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(error, ForbiddenError):
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_403_FORBIDDEN)
    if isinstance(error, RateLimitedError | TenantBusyError):
        return JSONResponse(
            {"detail": str(error)},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(error.retry_after)},
        )
    if isinstance(error, TooManyWebhooksError):
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_409_CONFLICT)
    if isinstance(error, TaskFinishedError | TaskNotDeadError | TaskChangedError):
        return JSONResponse(
            {"detail": str(error), "status": error.status}, status_code=status.HTTP_409_CONFLICT
        )
    if isinstance(error, IdempotencyConflictError):
        conflicts = [
            {
                "index": index,
                "idempotency_key": key,
                "task_id": str(task_id),
                "msg": f"already used for a different request (task {task_id})",
            }
            for index, key, task_id in error.conflicts
        ]
        return JSONResponse(
            {"detail": str(error), "conflicts": conflicts}, status_code=status.HTTP_409_CONFLICT
        )
    return JSONResponse(
        {"detail": _details(error, ["body"])}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


def database_unavailable_response() -> JSONResponse:
    """503 with Retry-After: nothing was accepted, and the client should try again."""
    return JSONResponse(
        {"detail": "the task database is unavailable; nothing was recorded, retry shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_error_response() -> JSONResponse:
    """500 without internals; the traceback goes to the log."""
    return JSONResponse(
        {"detail": "internal error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR
    )


# `/queue/{number_queues}` with a value that names no queue matches no route (a 404).
QUEUE_VIEW_PATH = re.compile(r"/api/v1/queue/([^/]+)")


def method_not_allowed(request: Request) -> JSONResponse:
    """405 naming, in `Allow`, every method the path has as the OpenAPI document says
    (Starlette names those of the one route it tried, and a path may have several). Where
    templates compete, the most literal one is the path's (`/queue/batch`, not
    `/queue/{number_queues}`), as in routing."""
    paths = request.app.openapi()["paths"]
    matching = [t for t in paths if _path_pattern(t).fullmatch(request.url.path)]
    fewest = min((template.count("{") for template in matching), default=0)
    methods = {
        method.upper()
        for template in matching
        if template.count("{") == fewest
        for method in paths[template]
    }
    allowed = ", ".join(sorted(methods))
    return JSONResponse(
        {"detail": f"{request.method} is not allowed here; allowed: {allowed}"},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": allowed},
    )


@functools.cache
def _path_pattern(template: str) -> re.Pattern[str]:
    """A regex matching the paths of an OpenAPI path template (`/a/{id}` → `/a/[^/]+`)."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    )


def install_error_responses(app: FastAPI) -> None:
    """Answer domain errors and database outages as the functions above say."""

    async def handle_domain_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, TaskgateError)
        return error_response(error)

    async def handle_database_error(_: Request, error: Exception) -> JSONResponse:
        if database_unavailable(error):
            return database_unavailable_response()
        logger.error("unexpected database error", exc_info=error)
        return internal_error_response()

    async def handle_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            return method_not_allowed(request)
        unknown_view = QUEUE_VIEW_PATH.fullmatch(request.url.path)
        if error.status_code == status.HTTP_404_NOT_FOUND and unknown_view:
            return JSONResponse(
                {
                    "detail": f"no queue {unknown_view[1]!r}: the queues are '1' (or 'main'), "
                    "waiting and running tasks, and '2' (or 'dead-letter')"
                },
                status_code=status.HTTP_404_NOT_FOUND,
            )
        return await http_exception_handler(request, error)

    async def handle_invalid_request(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        # The input is echoed back as it came, less what JSON cannot carry (a lone
        # surrogate) or PostgreSQL-bound text should not (a NUL): never a 500 for a 422.
        details = make_storable(jsonable_encoder(error.errors()))
        return JSONResponse({"detail": details}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    app.add_exception_handler(RequestValidationError, handle_invalid_request)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(TaskgateError, handle_domain_error)
    # Registered per class, not for Exception: Starlette's catch-all re-raises after answering.
    for error_class in DATABASE_ERRORS:
        app.add_exception_handler(error_class, handle_database_error)
