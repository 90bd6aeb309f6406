"""Each task a worker runs, observed on its own (a message may carry up to 100 tasks, of as
many requests): its log lines carry its id, its tenant and the id of the request that
submitted it, and (tracing on) its attempt is a span in that request's trace, linked to the
span of the message that brought it."""

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from publishers.messages import TaskMessage
from services.observability.correlation import correlated
from services.observability.tracing import context_of
from subscribers.execution import Outcome, Verdict

FAILED = frozenset({Verdict.RETRY_LATER, Verdict.DEAD})


@contextlib.contextmanager
def observed(task: TaskMessage, tracer: trace.Tracer | None) -> Iterator[Span | None]:
    """Within the block: the task's correlation, and its attempt's span (None: no tracing)."""
    origin = task.origin
    with correlated(
        request=origin.request_id if origin else None,
        task=str(task.id),
        tenant_name=origin.tenant if origin else None,
    ):
        if tracer is None:
            yield None
            return
        message = trace.get_current_span().get_span_context()
        submitted = context_of(origin.traceparent if origin else None)
        # Without the submitting request's context, the message's span is the parent.
        links = [Link(message)] if submitted is not None and message.is_valid else None
        with tracer.start_as_current_span(
            f"run {task.name}",
            context=submitted,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "taskgate.task.id": str(task.id),
                "taskgate.task.handler": task.name,
                "taskgate.task.queue": task.queue,
            },
        ) as span:
            yield span


def record_outcome(span: Span | None, outcome: Outcome) -> None:
    """What became of the attempt, on its span."""
    if span is None or not span.is_recording():
        return
    span.set_attribute("taskgate.task.outcome", outcome.verdict.value)
    if outcome.verdict in FAILED:
        span.set_status(Status(StatusCode.ERROR, outcome.error_kind))
