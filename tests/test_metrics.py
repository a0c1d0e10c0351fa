"""The instruments and the RPC interceptor, read back through an in-memory metric reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from photon_bench.loop_runs import original_plan, run, workload
from photon_drivers.profile import load_profile
from photond.metrics.export import exemplar_filter
from photond.metrics.instruments import level_name, record_plan
from photond.metrics.rpc import RpcMetricsInterceptor
from photond.planning.plan import Plan


@pytest.fixture(scope="module")
def reader() -> Iterator[InMemoryMetricReader]:
    """The process's meter provider, read in memory (it can be set once per process)."""
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    yield reader


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    if data is None:  # nothing recorded yet
        return []
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_each_replan_is_one_sample_of_the_latency_histogram(reader: InMemoryMetricReader) -> None:
    profile = load_profile()
    graph = workload(profile, 200)
    before = sum(p.count for p in points(reader, "photon_replan_duration_seconds"))
    result = run(profile, graph, original_plan(profile, graph), "ambient +10 C", "closed")
    samples = points(reader, "photon_replan_duration_seconds")
    assert result.replans >= 1
    assert sum(p.count for p in samples) - before == result.replans
    assert all(isinstance(p, HistogramDataPoint) and p.sum > 0 for p in samples)


def test_a_plan_is_recorded_by_level_with_its_makespan_and_gap(
    reader: InMemoryMetricReader,
) -> None:
    plan = Plan((), makespan_s=12.0, lower_bound_s=10.0, planner="t", planning_time_s=0.75)
    record_plan(plan, 3, "sim9")
    (gap,) = [
        p
        for p in points(reader, "photon_plan_gap_to_bound_ratio")
        if p.attributes["device"] == "sim9"
    ]
    assert gap.attributes["level"] == "quality"
    assert gap.sum == pytest.approx(0.2)
    (timed,) = [
        p
        for p in points(reader, "photon_planning_duration_seconds")
        if p.attributes["device"] == "sim9"
    ]
    assert timed.sum == pytest.approx(0.75)
    assert [level_name(n) for n in (0, 1, 2, 3)] == ["balanced", "fast", "balanced", "quality"]


# -- the RPC interceptor on a real grpc.aio server --------------------------------------------


async def _ok(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return request


async def _refused(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad field")
    raise AssertionError("unreachable")


async def _broken(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    raise RuntimeError("a handler's bug")


async def _stream(
    request: bytes, context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield request


def _unary(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_unary(f"/t.Probe/{method}", None, None)


async def _calls() -> None:
    server = grpc.aio.server(interceptors=[RpcMetricsInterceptor()])
    identity = {"request_deserializer": None, "response_serializer": None}
    handlers = {
        "Ok": grpc.unary_unary_rpc_method_handler(_ok, **identity),
        "Refused": grpc.unary_unary_rpc_method_handler(_refused, **identity),
        "Broken": grpc.unary_unary_rpc_method_handler(_broken, **identity),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream, **identity),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.Probe", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for _ in range(2):
                assert await _unary(channel, "Ok")(b"x") == b"x"
            for method, code in (
                ("Refused", grpc.StatusCode.INVALID_ARGUMENT),
                ("Broken", grpc.StatusCode.UNKNOWN),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await _unary(channel, method)(b"x")
                assert caught.value.code() == code
            replies = [r async for r in channel.unary_stream("/t.Probe/Stream", None, None)(b"y")]
            assert replies == [b"y"] * 3
            with pytest.raises(grpc.aio.AioRpcError):
                await _unary(channel, "Missing")(b"x")
    finally:
        await server.stop(None)


def test_every_call_is_counted_by_method_and_status_code(reader: InMemoryMetricReader) -> None:
    asyncio.run(_calls())
    counted = {
        (p.attributes["grpc_method"], p.attributes["grpc_code"]): p.value
        for p in points(reader, "photon_grpc_server_handled")
        if p.attributes["grpc_service"] == "t.Probe"
    }
    assert counted == {
        ("Ok", "OK"): 2,
        ("Refused", "INVALID_ARGUMENT"): 1,
        ("Broken", "UNKNOWN"): 1,
        ("Stream", "OK"): 1,
    }
    timed = {
        p.attributes["grpc_method"]: p.count
        for p in points(reader, "photon_grpc_server_handling_seconds")
        if p.attributes["grpc_service"] == "t.Probe"
    }
    assert timed == {"Ok": 2, "Refused": 1, "Broken": 1, "Stream": 1}


def test_exemplars_are_kept_only_where_they_can_be_sent() -> None:
    assert isinstance(exemplar_filter({}), AlwaysOffExemplarFilter)  # Prometheus drops them
    assert exemplar_filter({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}) is None
    assert exemplar_filter({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4317"}) is None
    assert exemplar_filter({"OTEL_METRICS_EXEMPLAR_FILTER": "always_on"}) is None


@pytest.mark.parametrize(("env", "kept"), [({}, 0), ({"OTEL_EXPORTER_OTLP_ENDPOINT": "x"}, 1)])
def test_a_measurement_in_a_sampled_span_keeps_an_exemplar_only_for_otlp(
    env: dict[str, str], kept: int
) -> None:
    own = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[own], exemplar_filter=exemplar_filter(env))
    histogram = provider.get_meter("t").create_histogram("call_seconds")
    with TracerProvider().get_tracer("t").start_as_current_span("call"):
        histogram.record(0.25)
    (point,) = points(own, "call_seconds")
    assert len(point.exemplars) == kept
