"""OpenTelemetry tracing, off by default (``ENDCAP_TRACING=otlp`` switches it on).

One span per request (``endcap.request``, with the route, status, tenant and request
id) and a child span per store call. Spans leave in batches over OTLP/HTTP to
``ENDCAP_OTEL_ENDPOINT`` (a collector, Jaeger, Tempo...). The SDK is imported only when
tracing is on: it is the ``otel`` extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from endcap.settings import ServeSettings


class Tracing:
    """A tracer and the provider that owns its exporter."""

    def __init__(self, provider: TracerProvider, tracer: Tracer) -> None:
        self._provider = provider
        self._tracer = tracer

    @contextlib.contextmanager
    def span(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[Span]:
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def shutdown(self) -> None:
        """Flush what is buffered and stop the exporter."""
        self._provider.shutdown()


def start_tracing(settings: ServeSettings, role: str = "api") -> Tracing | None:
    """The process's tracer when ``settings.tracing`` asks for one, else None."""
    if settings.tracing == "off":
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise SystemExit("endcap: ENDCAP_TRACING=otlp needs the OpenTelemetry SDK: "
                         "pip install 'endcap[otel]'") from e
    from endcap import __version__

    resource = Resource.create({"service.name": settings.otel_service_name,
                                "service.version": __version__, "endcap.role": role})
    provider = TracerProvider(resource=resource,
                              sampler=ParentBased(TraceIdRatioBased(settings.otel_sample_ratio)))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=settings.otel_endpoint, timeout=5)))
    # The provider is handed to the app, not installed globally: nothing else in the
    # process is traced behind the operator's back, and tests can run several apps.
    return Tracing(provider, provider.get_tracer("endcap"))
