"""Log lines: JSON, one object a line, where a machine reads them (stderr not a terminal),
plain text on a terminal; each carries the correlation of its context (the request id, the
task and its tenant, the trace). Formatting happens only for lines that are emitted.

Taskgate logs no payload, result or error text of a task by default: only ids, names,
counts and the kinds of errors.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

from services.observability import correlation

# Loggers that frameworks set up with handlers of their own: theirs are removed, so that
# their lines pass through the one handler below like every other.
FRAMEWORK_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream")
# The AMQP client's debug lines dump whole frames, message bodies (payloads) included: never
# below INFO, whatever LOG_LEVEL says.
QUIET_LOGGERS = ("aiormq", "aio_pika")
# Attributes a framework adds to its records (FastStream's broker logger) worth keeping.
KEPT_EXTRAS = ("exchange", "queue", "message_id")
CORRELATION_FIELDS = ("request_id", "task_id", "tenant", "trace_id", "span_id")


class CorrelationFilter(logging.Filter):
    """Adds the context's correlation to each record it passes (as attributes, unless the
    call gave them itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in (
            ("request_id", correlation.request_id),
            ("task_id", correlation.task_id),
            ("tenant", correlation.tenant),
        ):
            if getattr(record, name, None) is None:
                setattr(record, name, variable.get())
        span = trace.get_current_span().get_span_context()
        if span.is_valid and getattr(record, "trace_id", None) is None:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, correlation, and
    the exception's traceback if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in (*CORRELATION_FIELDS, *KEPT_EXTRAS):
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger [request_id=… task_id=… tenant=…] message`, for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(correlation)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        pairs = [
            f"{name}={value}"
            for name in ("request_id", "task_id", "tenant")
            if (value := getattr(record, name, None))
        ]
        record.correlation = f" [{' '.join(pairs)}]" if pairs else ""
        return super().format(record)


class _TaskgateHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs (so a second call replaces it)."""


def wants_json(log_format: str, stream: TextIO) -> bool:
    """JSON for `json`; for `auto`, unless `stream` is a terminal."""
    if log_format == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (isatty is not None and isatty())
    return log_format == "json"


def configure_logging(*, log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Send every log line of the process (the frameworks' too) through one handler on
    `stream` (stderr), formatted as `log_format` says, at `level` and above."""
    stream = stream or sys.stderr
    handler = _TaskgateHandler(stream)
    handler.setFormatter(JsonFormatter() if wants_json(log_format, stream) else TextFormatter())
    handler.addFilter(CorrelationFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _TaskgateHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    for name in FRAMEWORK_LOGGERS:
        framework = logging.getLogger(name)
        for own in list(framework.handlers):
            framework.removeHandler(own)
        framework.propagate = True
