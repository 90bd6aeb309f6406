"""Following one task live: Server-Sent Events of its changes (app/task_events.py)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Path, Response, status
from fastapi.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from app.api.deps import RuntimeDep
from app.api.responses import AUTH, NOT_FOUND, Responses
from app.auth import Reader
from app.task_events import StreamsFullError, TaskStream

router = APIRouter(prefix="/result", tags=["result"])

# Seconds a client is told to wait when this process serves all the streams it may.
FULL_RETRY_AFTER_SECONDS = 5
# Proxies must pass each event on at once (nginx buffers unless told not to), and keep none.
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

EVENTS: Responses = {
    200: {
        "description": "`text/event-stream`: an `event: task` whose `data:` is the task as "
        "GET /api/v1/result/{id} renders it, first as it is now (unless `Last-Event-ID` "
        "names that very state), then on every change of its status, attempts, progress or "
        "cancel request; each with an `id:`, comments (`: ping`) every 15 s while quiet. The "
        "stream ends after the task's terminal state, or after SSE_MAX_SECONDS (reconnect "
        "with `Last-Event-ID`).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    204: {"description": "The task has ended and `Last-Event-ID` is its last state: no more."},
    503: {
        "description": "This API process serves as many streams as it may (SSE_MAX_STREAMS); "
        "retry after `Retry-After`."
    },
}


class TaskEventsResponse(EventSourceResponse):
    """A stream's frames; its place is given back however the response ends (the task
    ended, the client went away, the server stops)."""

    def __init__(self, stream: TaskStream) -> None:
        super().__init__(stream.body, headers=STREAM_HEADERS)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.release()
            await self.stream.body.aclose()


@router.get(
    "/{result_uuid}/events",
    # Documented by EVENTS: FastAPI would take an EventSourceResponse class for a generator.
    response_class=Response,
    responses={**AUTH, **NOT_FOUND, **EVENTS},
)
async def task_events(
    task_id: Annotated[UUID, Path(alias="result_uuid")],
    runtime: RuntimeDep,
    principal: Reader,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=100,
            description="The `id:` of the last event seen: the stream resumes after it.",
        ),
    ] = None,
) -> Response:
    """Follow one task live: Server-Sent Events of its changes until it ends."""
    try:
        stream = await runtime.task_streams.start(
            task_id=task_id, tenant=principal.scope, last_event_id=last_event_id
        )
    except StreamsFullError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=str(error),
            headers={"Retry-After": str(FULL_RETRY_AFTER_SECONDS)},
        ) from None
    if stream is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return TaskEventsResponse(stream)
