"""FastStream's own middlewares for the broker: Prometheus metrics of every message
consumed and published (`faststream_*`), and, when tracing is on, a span for each."""

from typing import Any

from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import REGISTRY

from services.observability.tracing import Tracing

# The `app_name` label of FastStream's metrics.
APP_NAME = "taskgate"


def broker_middlewares(tracing: Tracing) -> list[Any]:
    """The middlewares to build a broker with: traces outermost (their span covers the
    rest), then metrics."""
    middlewares: list[Any] = []
    if tracing.enabled:
        middlewares.append(RabbitTelemetryMiddleware(tracer_provider=tracing.given))
    middlewares.append(RabbitPrometheusMiddleware(registry=REGISTRY, app_name=APP_NAME))
    return middlewares
