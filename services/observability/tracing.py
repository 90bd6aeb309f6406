"""Traces, with OpenTelemetry: off unless the standard variables ask for them
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, and not
`OTEL_SDK_DISABLED=true`); then spans go over OTLP/HTTP, batched, under `OTEL_SERVICE_NAME`
(default taskgate-api or taskgate-worker), sampled as `OTEL_TRACES_SAMPLER` says.

Each task carries the W3C traceparent of the request that submitted it in its message, so
its attempt on a worker joins that request's trace even when it travelled in one message
with other requests' tasks.
"""

import os
import threading
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACER_NAME = "taskgate"
PROPAGATOR = TraceContextTextMapPropagator()
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_installing = threading.Lock()
_installed: trace.TracerProvider | None = None


def tracing_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the OTEL_* variables ask for traces."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def install_global_tracer_provider(service_name: str) -> trace.TracerProvider:
    """Make an SDK tracer provider exporting over OTLP the process's global one (once: a
    process keeps the first)."""
    global _installed
    with _installing:
        if _installed is None:
            # Imported here: the SDK and the exporter are needed only when tracing is on.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            resource = Resource.create()
            if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
                resource = resource.merge(Resource({SERVICE_NAME: service_name}))
            provider = TracerProvider(resource=resource)
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
            _installed = provider
        return _installed


class Tracing:
    """Where this process's spans go: to the provider given (tests), else to the global one
    once `start` installed it (when the OTEL_* variables ask for traces), else nowhere."""

    def __init__(self, *, service_name: str, provider: trace.TracerProvider | None = None):
        self.service_name = service_name
        self.given = provider
        self.enabled = provider is not None or tracing_configured()

    def tracer(self) -> trace.Tracer | None:
        """Taskgate's own tracer (None: no spans); the global one resolves once installed."""
        if not self.enabled:
            return None
        return trace.get_tracer(TRACER_NAME, tracer_provider=self.given)

    def start(self) -> None:
        """In the process that does the work (not at import, not in a supervisor)."""
        if self.enabled and self.given is None:
            install_global_tracer_provider(self.service_name)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, if there is a valid one."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """A context whose parent is the span `traceparent` names (None if it names none)."""
    if not traceparent:
        return None
    extracted = PROPAGATOR.extract({"traceparent": traceparent})
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        return None
    return extracted
