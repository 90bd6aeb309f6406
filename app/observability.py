"""What the API adds to every request to be observed: its correlation id, its metrics, and
(tracing on) its server span."""

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from app.http_metrics import HttpMetrics
from app.request_correlation import RequestCorrelation
from config.settings import Settings
from services.observability.logs import configure_logging
from services.observability.tracing import Tracing

# Polled by machines every few seconds: a trace each would drown the ones that matter.
UNTRACED_PATHS = "/metrics,/health,/ready"


def install_observability(app: FastAPI, settings: Settings, tracing: Tracing) -> None:
    """Send the process's log lines through Taskgate's format (before the server's first
    line), and add the middlewares after every other, so they run first: the correlation id
    is set and the metrics count even for a request a guard refuses. The server span
    (tracing on) wraps them all."""
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    app.add_middleware(HttpMetrics)
    app.add_middleware(RequestCorrelation)
    if tracing.enabled:
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=tracing.given,
            excluded_urls=UNTRACED_PATHS,
            # One span per request, not one more per chunk of the body sent or received.
            exclude_spans=["receive", "send"],
        )
