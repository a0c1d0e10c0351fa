"""Traces: spans for the daemon's work on a job, exported over OTLP.

The daemon asks one tracer for its spans; whether they go anywhere is configuration. With the
standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans are
batched to that collector over OTLP/gRPC (the other `OTEL_*` variables of the exporter and the
batch processor apply); without it they are created and dropped, at the cost of a few
microseconds per span.

One trace per job: the gRPC server's instrumentation (`rpc/server`) continues the W3C trace
context a client sends (the SDK sends it when OpenTelemetry is installed beside it) in a span
per call; SubmitJob's planning (`photond.plan`, with the worker's `photond.validate` and
`photond.optimize` phases) and journal write (`photond.journal`) are its children, and
`JobTrace` hangs the job's wait in the queue, its run and each re-plan under the same call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

import photond

tracer = trace.get_tracer("photond", photond.__version__)

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


@dataclass(frozen=True)
class Phase:
    """A stretch of work timed where no span could be made (a planning worker): its span's
    name, wall-clock start and end (ns since the epoch) and attributes."""

    name: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


def configure_tracing(env: Mapping[str, str] = os.environ) -> TracerProvider:
    """Install the daemon's tracer provider; add the OTLP exporter when a collector is named."""
    provider = TracerProvider(resource=Resource.create({"service.name": "photond"}))
    if any(env.get(name) for name in _ENDPOINT_VARIABLES):
        # Imported only when used: the exporter pulls in its own gRPC channel machinery.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


class JobTrace:
    """Where one job's spans hang: under the SubmitJob call that made it, so that one trace
    shows the call, its planning and journal, the wait in the queue, the run, every re-plan
    and the end.

    The call's span ends when SubmitJob answers; the job's spans outlive it (OpenTelemetry
    allows children to end after their parent). They are made on the device loop's thread,
    once per job each (`queued` and `photond.job.run`), so the loop pays a few microseconds
    per job, never per period.
    """

    def __init__(self, parent: Context | None) -> None:
        self._parent = parent
        self._queued_ns = time.time_ns()
        self._run: Span | None = None

    def queued(self) -> None:
        """The job entered its device's queue now."""
        self._queued_ns = time.time_ns()

    def started(self, attributes: Mapping[str, AttributeValue]) -> None:
        """The job left the queue and runs: the queue wait is a span, the run begins one."""
        now_ns = time.time_ns()
        tracer.start_span(
            "photond.job.queued", context=self._parent, start_time=self._queued_ns
        ).end(now_ns)
        self._run = tracer.start_span(
            "photond.job.run", context=self._parent, start_time=now_ns, attributes=attributes
        )

    def context(self) -> Context | None:
        """The context re-plans of the running job are made in (its run's)."""
        if self._run is None:
            return self._parent
        return trace.set_span_in_context(self._run, self._parent)

    def finished(self, state: str, reason: str) -> None:
        """The job ended in `state`; a failure's reason becomes the span's error status."""
        span = self._run
        if span is None:  # it never ran (cancelled or failed in the queue)
            span = tracer.start_span(
                "photond.job.queued", context=self._parent, start_time=self._queued_ns
            )
        self._run = None
        span.set_attribute("photond.job.state", state)
        if state == "JOB_STATE_FAILED":
            span.set_status(Status(StatusCode.ERROR, reason))
        span.end()


def record_phases(phases: Iterable[Phase]) -> None:
    """Record work another process timed (a planning worker's phases) as finished spans in
    the current context: the worker exports nothing itself, so its spans cannot be lost with
    it, and it needs no exporter of its own."""
    for phase in phases:
        tracer.start_span(phase.name, start_time=phase.start_ns, attributes=phase.attributes).end(
            phase.end_ns
        )
