"""Every re-plan and every planning of a submitted job is a span in the trace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from daemon_process import cleanup, start_daemon
from photon_bench.loop_runs import original_plan, run, workload
from photon_drivers.profile import load_profile
from photon_sdk import Client, TaskGraph
from photond.tracing import configure_tracing


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider, recording in memory (it can be set once per process)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = configure_tracing(env={})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter


def test_each_replan_is_a_span_with_its_reason(spans: InMemorySpanExporter) -> None:
    profile = load_profile()
    graph = workload(profile, 200)
    spans.clear()
    result = run(profile, graph, original_plan(profile, graph), "ambient +10 C", "closed")
    replans = [s for s in spans.get_finished_spans() if s.name == "photond.planning.replan"]
    assert result.replans >= 1
    assert len(replans) == result.replans
    attributes = replans[0].attributes or {}
    assert attributes["photond.planning.replan.reason"]
    assert int(attributes["photond.tasks_remaining"]) <= 200  # type: ignore[arg-type]


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace receiver: what an OpenTelemetry Collector would be sent."""

    def __init__(self) -> None:
        self.span_names: list[str] = []
        self.received = threading.Event()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.span_names += [span.name for span in scope_spans.spans]
        self.received.set()
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.mark.integration
def test_daemon_exports_planning_spans_to_the_named_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collector = Collector()
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    daemon = start_daemon()
    try:
        graph = TaskGraph()
        graph.add_task("traced", duration_s=0.1, heater_power_mw={"h00": 5.0})
        with Client(daemon.target) as client:
            client.wait_job(client.submit_job(graph).id)
        deadline = time.monotonic() + 60
        while "photond.plan" not in collector.span_names and time.monotonic() < deadline:
            collector.received.wait(1)
    finally:
        cleanup(daemon)
        server.stop(None)
    assert "photond.plan" in collector.span_names
