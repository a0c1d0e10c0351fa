"""Traces: spans for the daemon's decisions (planning, re-planning), exported over OTLP.

The daemon asks one tracer for its spans; whether they go anywhere is configuration. With the
standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans are
batched to that collector over OTLP/gRPC; without it they are created and dropped, at the cost
of a few microseconds per re-plan.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import photond

tracer = trace.get_tracer("photond", photond.__version__)

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configure_tracing(env: Mapping[str, str] = os.environ) -> TracerProvider:
    """Install the daemon's tracer provider; add the OTLP exporter when a collector is named."""
    provider = TracerProvider(resource=Resource.create({"service.name": "photond"}))
    if any(env.get(name) for name in _ENDPOINT_VARIABLES):
        # Imported only when used: the exporter pulls in its own gRPC channel machinery.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider
