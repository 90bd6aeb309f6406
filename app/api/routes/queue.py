"""Submitting tasks and viewing the queues."""

import enum
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Response, status
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor

from app.api.deps import (
    CursorDep,
    LimitDep,
    PublishersDep,
    RuntimeDep,
    SessionDep,
    SubmitterDep,
)
from app.api.responses import AUTH, NOT_FOUND, TOO_MANY
from app.auth import Admin, Reader, Writer
from app.schemas import (
    BandOut,
    BatchItemOut,
    BatchOut,
    BatchSubmit,
    IdempotencyKey,
    PageOut,
    QueuesOut,
    QueueStatsOut,
    TaskOut,
    TaskSubmit,
    page_out,
)
from services.access import visible_tenants
from services.cancellation import cancel_task
from services.errors import ConflictingKeysError
from services.queue_stats import queue_stats
from services.submission import Submission
from services.task_views import QUEUE_VIEW_STATUSES, QueueView, list_tasks

router = APIRouter(prefix="/queue", tags=["queue"])


class QueueViewConvertor(Convertor[str]):
    """Matches only the original API's queue names and numbers, so `/queue/batch` is not
    taken for one (GET /queue/batch is a 405, not a 422)."""

    regex = "1|main|2|dead-letter"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("queue_view", QueueViewConvertor())


class QueueViewRef(enum.StrEnum):
    """One of the original API's two queues, by number or by name."""

    MAIN_NUMBER = "1"
    MAIN = "main"
    DEAD_LETTER_NUMBER = "2"
    DEAD_LETTER = "dead-letter"

    @property
    def view(self) -> QueueView:
        if self in (QueueViewRef.MAIN_NUMBER, QueueViewRef.MAIN):
            return QueueView.MAIN
        return QueueView.DEAD_LETTER


def _submission(body: TaskSubmit, key: str | None = None) -> Submission:
    return Submission(
        name=body.name,
        payload=body.payload,
        max_attempts=body.max_attempts,
        queue=body.queue,
        priority=body.priority,
        idempotency_key=key or body.idempotency_key,
        concurrency_key=body.concurrency_key,
        delay_seconds=body.delay_seconds,
        run_at=body.run_at,
    )


@router.post(
    "/",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskOut,
    responses={
        200: {"model": TaskOut, "description": "A repeat of an earlier request (same key)."},
        409: {"description": "The idempotency key was used for a different request."},
        **AUTH,
        **TOO_MANY,
    },
)
async def create_task(
    body: TaskSubmit,
    submitter: SubmitterDep,
    principal: Writer,
    idempotency_key: Annotated[IdempotencyKey | None, Header()] = None,
) -> Response:
    """Submit a task; it is recorded before the answer, then run by a worker."""
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise ConflictingKeysError()
    accepted = await submitter.submit_task(
        submission=_submission(body, idempotency_key), tenant=principal.tenant
    )
    code = status.HTTP_202_ACCEPTED if accepted.created else status.HTTP_200_OK
    return _json(TaskOut.model_validate(accepted.task), code)


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchOut,
    responses={
        409: {"description": "An idempotency key was used for a different request."},
        **AUTH,
        **TOO_MANY,
    },
)
async def create_tasks(body: BatchSubmit, submitter: SubmitterDep, principal: Writer) -> Response:
    """Submit up to 1,000 tasks at once: all are recorded, or none (invalid ones are
    reported by their index). An item whose idempotency key was seen answers the first task."""
    accepted = await submitter.submit_batch(
        submissions=[_submission(item) for item in body.tasks], tenant=principal.tenant
    )
    items = [
        BatchItemOut.model_validate({**item.task, "created": item.created}) for item in accepted
    ]
    return _json(BatchOut(items=items), status.HTTP_202_ACCEPTED)


def _json(body: BaseModel, code: int) -> Response:
    """The body serialized once, by its own model (the submit paths are the hot ones:
    FastAPI would validate it against the response model a second time)."""
    return Response(body.model_dump_json(), status_code=code, media_type="application/json")


@router.get("/", response_model=QueuesOut, responses=AUTH)
async def list_queues(session: SessionDep, runtime: RuntimeDep, principal: Admin) -> QueuesOut:
    """Every named queue: messages ready and consumers per priority band (asked of
    RabbitMQ now, all tenants'), and its tasks by status (the key's tenant's)."""
    stats = await queue_stats(
        session=session,
        publishers=runtime.publishers,
        known=runtime.queues,
        tenant=principal.scope,
    )
    return QueuesOut(
        queues=[
            QueueStatsOut(
                name=queue.name,
                ready=sum(band.ready for band in queue.bands or ()),
                consumers=sum(band.consumers for band in queue.bands or ()),
                bands=None
                if queue.bands is None
                else [
                    BandOut(band=band.band, ready=band.ready, consumers=band.consumers)
                    for band in queue.bands
                ],
                tasks=queue.tasks,
            )
            for queue in stats
        ]
    )


@router.post(
    "/{task_id}/cancel",
    response_model=TaskOut,
    responses={
        202: {"model": TaskOut, "description": "Running: its worker was asked to stop it."},
        **NOT_FOUND,
        409: {"description": "The task has finished already."},
        **AUTH,
    },
)
async def cancel(
    task_id: UUID,
    session: SessionDep,
    publishers: PublishersDep,
    response: Response,
    principal: Writer,
) -> TaskOut:
    """Cancel a task. One not yet running is cancelled at once (200) and never runs; a
    running one is stopped by its worker (202: poll it, it ends `cancelled`)."""
    cancellation = await cancel_task(
        session=session, publishers=publishers, task_id=task_id, tenant=principal.scope
    )
    if not cancellation.done:
        response.status_code = status.HTTP_202_ACCEPTED
    return TaskOut.model_validate(cancellation.task)


@router.get(
    "/{number_queues:queue_view}",
    response_model=PageOut[TaskOut],
    responses={**AUTH, 404: {"description": "No such queue: `1`, `main`, `2`, `dead-letter`."}},
)
async def view_queue(
    queue_view: Annotated[
        QueueViewRef,
        Path(
            alias="number_queues",
            description="`1` or `main`: waiting and running tasks; `2` or `dead-letter`.",
        ),
    ],
    session: SessionDep,
    cursor: CursorDep,
    principal: Reader,
    limit: LimitDep = 100,
) -> PageOut[TaskOut]:
    """View the tasks in a queue, newest first."""
    page = await list_tasks(
        session=session,
        tenants=await visible_tenants(session=session, principal=principal),
        statuses=QUEUE_VIEW_STATUSES[queue_view.view],
        limit=limit,
        cursor=cursor,
    )
    return page_out(page, TaskOut)
