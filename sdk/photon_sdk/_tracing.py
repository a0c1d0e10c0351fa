"""Carry the caller's trace to photond: W3C trace context in every call's metadata.

A compile host that traces its build wants photond's work on a job (planning, the queue, the
run, each re-plan) inside its own trace. When OpenTelemetry's API is installed beside the SDK
(the `tracing` extra), every call the SDK makes carries the caller's current span context as
`traceparent` (and `tracestate`, baggage: whatever propagators OpenTelemetry is configured
with, W3C trace context and baggage by default; `OTEL_PROPAGATORS` changes them); photond's
gRPC server instrumentation continues the trace from it.

Optional and costless when off: nothing of OpenTelemetry is imported until a channel is opened,
and then only when it is installed and `OTEL_SDK_DISABLED` is not "true" (the standard
switch). With no span current, nothing is added to a call.
"""

from __future__ import annotations

import importlib.util
import os


def enabled() -> bool:
    """Whether the SDK's channels carry trace context (see the module docstring)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    try:
        return importlib.util.find_spec("opentelemetry.propagate") is not None
    except ModuleNotFoundError:  # `opentelemetry` itself is absent
        return False


def context_metadata() -> tuple[tuple[str, str], ...]:
    """The current context as gRPC metadata pairs (none when no span is current)."""
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return tuple(carrier.items())
