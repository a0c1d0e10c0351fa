"""Every re-plan and every planning of a submitted job is a span in the trace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from daemon_process import cleanup, start_daemon
from photon_bench.loop_runs import original_plan, run, workload
from photon_drivers.profile import load_profile
from photon_sdk import Client, TaskGraph
from photond.tracing import JobTrace, configure_tracing


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
        self.spans: list[Span] = []
        self.received = threading.Event()

    @property
    def span_names(self) -> list[str]:
        return [span.name for span in self.spans]

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.spans += scope_spans.spans
        self.received.set()
        return trace_service_pb2.ExportTraceServiceResponse()

    def wait_for(self, name: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while name not in self.span_names and time.monotonic() < deadline:
            self.received.wait(1)
            self.received.clear()


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


def test_a_job_trace_hangs_its_queue_wait_run_and_end_under_the_submission(
    spans: InMemorySpanExporter,
) -> None:
    spans.clear()
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("submit") as submit:
        job = JobTrace(otel_context.get_current())
    job.queued()
    job.started({"photond.job_id": "j1"})
    replan_context = job.context()
    job.finished("JOB_STATE_FAILED", "device error: link lost")
    finished = {s.name: s for s in spans.get_finished_spans()}
    queued, run = finished["photond.job.queued"], finished["photond.job.run"]
    assert queued.parent is not None and run.parent is not None
    assert queued.parent.span_id == run.parent.span_id == submit.get_span_context().span_id
    assert queued.end_time is not None and run.start_time is not None
    assert queued.end_time <= run.start_time  # the wait ends as the run begins
    assert trace.get_current_span(replan_context).get_span_context() == run.get_span_context()
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "device error: link lost"
    assert (run.attributes or {})["photond.job.state"] == "JOB_STATE_FAILED"
    spans.clear()
    JobTrace(None).finished("JOB_STATE_CANCELLED", "")  # never ran: cancelled while queued
    (alone,) = spans.get_finished_spans()
    assert alone.name == "photond.job.queued"
    assert (alone.attributes or {})["photond.job.state"] == "JOB_STATE_CANCELLED"


@pytest.mark.integration
def test_one_trace_from_the_sdk_through_planning_queue_run_replan_and_end(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's span is the parent of photond's: the call, planning (with the worker's
    phases), the journal, the queue wait, the run, a re-plan (after an emergency stop is
    lifted) and the end, all in one trace received by a real OTLP/gRPC receiver."""
    collector = Collector()
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    daemon = start_daemon()
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")  # the test process exports in memory
    spans.clear()
    try:
        graph = TaskGraph()
        for i in range(6):
            # A chain: tasks are still pending when the hold below clears, so it re-plans.
            after = [f"t{i - 1}"] if i else []
            graph.add_task(
                f"t{i}", duration_s=1.0, heater_power_mw={f"h0{i}": 10.0}, depends_on=after
            )
        host = trace.get_tracer("compile-host")
        with host.start_as_current_span("build") as build, Client(daemon.target) as client:
            job = client.submit_job(graph)
            events = client.watch_job(job.id)
            assert next(e for e in events if e.kind == "task_started")
            client.emergency_stop("sim0", "trace test")
            assert next(e for e in events if e.kind == "held")  # the loop took the hold
            client.resume("sim0")
            done = client.wait_job(job.id)
        assert done.state.name == "COMPLETED", done.failure_reason
        collector.wait_for("photond.job.run")
    finally:
        cleanup(daemon)
        server.stop(None)
    trace_id = build.get_span_context().trace_id.to_bytes(16, "big")
    ours = [s for s in collector.spans if s.trace_id == trace_id]
    by_name: dict[str, list[Span]] = {}
    for span in ours:
        by_name.setdefault(span.name, []).append(span)
    (call,) = by_name["/photon.v1.JobService/SubmitJob"]
    assert call.parent_span_id == build.get_span_context().span_id.to_bytes(8, "big")

    def only(name: str, parent: Span) -> Span:
        (span,) = by_name[name]
        assert span.parent_span_id == parent.span_id, name
        return span

    plan = only("photond.plan", call)
    only("photond.validate", plan)
    optimize = only("photond.optimize", plan)
    attributes = {a.key: a.value for a in optimize.attributes}
    assert attributes["photond.planning.level"].string_value == "balanced"
    assert attributes["photond.planning.evaluations"].int_value > 0
    assert "photond.gap_to_bound" in attributes
    only("photond.journal", call)
    only("photond.job.queued", call)
    run = only("photond.job.run", call)
    replans = by_name["photond.planning.replan"]
    assert replans and all(r.parent_span_id == run.span_id for r in replans)
    reasons = [
        a.value.string_value
        for r in replans
        for a in r.attributes
        if a.key == "photond.planning.replan.reason"
    ]
    assert any(reason.startswith("resumed after a hold") for reason in reasons), reasons
    state = {a.key: a.value.string_value for a in run.attributes}["photond.job.state"]
    assert state == "JOB_STATE_COMPLETED"
