"""The Prometheus endpoint of a real photond: what a scrape shows after a job, an emergency
stop and a refused call; the endpoint on the port configured, none when it is off; and the
same metrics pushed over OTLP to a receiver when one is named."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from prometheus_client.parser import text_string_to_metric_families

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_sdk import Client, RpcError, TaskGraph
from photond.metrics.export import serve_metrics

pytestmark = pytest.mark.integration

Samples = dict[str, list[tuple[dict[str, str], float]]]


@dataclass(frozen=True)
class Worked:
    daemon: RunningDaemon
    samples: Samples
    # The energy the job's result reports, mJ.
    job_energy_mj: float


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    found = [v for got, v in samples.get(name, []) if labels.items() <= got.items()]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def worked() -> Iterator[Worked]:
    """A daemon that ran a job, refused a call and was emergency-stopped, and its scrape."""
    port = free_port()
    daemon = start_daemon(None, "--metrics-listen", f"127.0.0.1:{port}")
    try:
        assert daemon.metrics_url() == f"http://127.0.0.1:{port}/metrics"
        graph = TaskGraph()
        graph.add_task("warm", duration_s=0.5, zone_power_mw={"z0": 80.0})
        graph.add_task("mvm", duration_s=0.5, heater_power_mw={"h00": 20.0}, depends_on=["warm"])
        with Client(daemon.target) as client:
            done = client.wait_job(client.submit_job(graph).id)
            assert done.result is not None
            with pytest.raises(RpcError):
                client.get_job("no-such-job")
            client.emergency_stop("sim0", "metrics test")
            samples = scrape(daemon.metrics_url())
            client.resume("sim0")
        yield Worked(daemon, samples, done.result.energy_mj)
    finally:
        cleanup(daemon)


def test_temperatures_headroom_and_limits_describe_the_chip(
    worked: Worked,
) -> None:
    samples = worked.samples
    sensors = samples["photon_sensor_temperature_celsius"]
    assert len(sensors) == 16
    assert all(20.0 < v < 60.0 for _, v in sensors)  # a warm job on a 25 °C chip
    hottest = value(samples, "photon_device_hottest_point_estimated_celsius", device="sim0")
    limit = value(samples, "photon_device_temperature_limit_celsius", device="sim0", limit="max")
    assert limit == 85.0
    assert value(samples, "photon_device_temperature_limit_celsius", limit="interlock") == 95.0
    headroom = value(samples, "photon_device_thermal_headroom_celsius", device="sim0")
    assert headroom == pytest.approx(limit - hottest, abs=0.5)  # read a moment apart
    zones = samples["photon_zone_heater_power_watts"]
    assert {labels["zone"] for labels, _ in zones} == {f"z{i}" for i in range(8)}
    assert value(samples, "photon_device_time_above_limit_seconds_total", device="sim0") == 0
    # 80 mW for 0.5 s, then 20 mW for 0.5 s: about 50 mJ (more when a loaded machine ends a
    # task late), and what the job's result counted over the same samples.
    energy_j = value(samples, "photon_device_heater_energy_joules_total", device="sim0")
    assert energy_j >= 0.045
    assert energy_j == pytest.approx(worked.job_energy_mj / 1000.0, rel=0.05)


def test_jobs_plans_and_calls_are_counted(worked: Worked) -> None:
    samples = worked.samples
    assert value(samples, "photon_jobs_submitted_total", device="sim0") == 1
    assert value(samples, "photon_jobs_finished_total", state="completed") == 1
    assert value(samples, "photon_jobs", state="queued") == 0
    assert value(samples, "photon_planning_duration_seconds_count", level="balanced") == 1
    assert value(samples, "photon_plan_makespan_seconds_sum", level="balanced") == pytest.approx(
        1.0, abs=0.05
    )
    assert value(samples, "photon_plan_gap_to_bound_ratio_count", level="balanced") == 1
    assert value(samples, "photon_planning_budget_seconds", level="quality") == 5.0
    handled = "photon_grpc_server_handled_total"
    assert value(samples, handled, grpc_method="SubmitJob", grpc_code="OK") == 1
    assert value(samples, handled, grpc_method="GetJob", grpc_code="NOT_FOUND") == 1


def test_the_loop_and_the_holds_are_visible(worked: Worked) -> None:
    samples = worked.samples
    assert value(samples, "photon_device_emergency_stopped", device="sim0") == 1
    assert value(samples, "photon_device_serving", device="sim0") == 0
    assert value(samples, "photon_device_interlock_tripped", device="sim0") == 0
    assert value(samples, "photon_device_breaker_state", state="closed") == 1
    assert value(samples, "photon_device_breaker_state", state="open") == 0
    assert value(samples, "photon_control_loop_period_seconds", device="sim0") == 0.01
    assert value(samples, "photon_control_loop_passes_total", device="sim0") > 10
    assert value(samples, "photon_control_loop_lateness_seconds_count", device="sim0") > 10
    assert value(samples, "photon_control_loop_heartbeat_age_seconds", device="sim0") < 5
    assert value(samples, "photon_telemetry_last_sample_age_seconds", device="sim0") < 5


def test_a_closed_endpoint_stops_its_thread_and_frees_its_port() -> None:
    endpoint = serve_metrics("127.0.0.1:0")
    assert endpoint is not None
    host, port = endpoint.address.rsplit(":", 1)
    with urllib.request.urlopen(endpoint.url, timeout=10) as answer:
        assert answer.status == 200
    endpoint.close()
    assert not [t for t in threading.enumerate() if "serve_forever" in t.name]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((host, int(port)))


def test_metrics_off_serves_no_endpoint() -> None:
    port = free_port()
    daemon = start_daemon(None, "--metrics-listen", "off")
    try:
        assert "metrics endpoint" not in daemon.log()
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))
    finally:
        cleanup(daemon)


def test_a_metrics_port_in_use_stops_the_start_with_the_reason() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AssertionError, match="Address already in use"):
            start_daemon(None, "--metrics-listen", f"127.0.0.1:{port}")


class MetricsCollector(metrics_service_pb2_grpc.MetricsServiceServicer):
    """A real OTLP/gRPC metrics receiver: what an OpenTelemetry Collector would be sent."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        # Histogram series (metric name) that came with an exemplar.
        self.exemplified: set[str] = set()
        self.received = threading.Event()

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: object
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                self.names |= {metric.name for metric in scope_metrics.metrics}
                self.exemplified |= {
                    metric.name
                    for metric in scope_metrics.metrics
                    if any(point.exemplars for point in metric.histogram.data_points)
                }
        self.received.set()
        return metrics_service_pb2.ExportMetricsServiceResponse()


def test_metrics_go_over_otlp_when_a_collector_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    collector = MetricsCollector()
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(collector, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
    daemon = start_daemon(None, "--metrics-listen", "off")
    try:
        with Client(daemon.target) as client:
            client.get_device_state("sim0")  # a call, timed in its span: it has an exemplar
        deadline = time.monotonic() + 60
        while (
            "photon_control_loop_passes" not in collector.names
            or "photon_grpc_server_handling_seconds" not in collector.exemplified
        ):
            assert time.monotonic() < deadline, (sorted(collector.names), collector.exemplified)
            collector.received.wait(1)
            collector.received.clear()
    finally:
        cleanup(daemon)
        server.stop(None)
    assert {
        "photon_sensor_temperature_celsius",
        "photon_device_thermal_headroom_celsius",
        "photon_control_loop_lateness_seconds",
    } <= collector.names


def test_the_limits_in_force_are_exported_after_update_limits() -> None:
    daemon = start_daemon()
    try:
        with Client(daemon.target) as client:
            limits = client.get_device("sim0").limits
            client.update_limits(
                "sim0", replace(limits, max_device_temperature_c=70.0, interlock_temperature_c=80.0)
            )
            samples = scrape(daemon.metrics_url())
    finally:
        cleanup(daemon)
    assert value(samples, "photon_device_temperature_limit_celsius", limit="max") == 70.0
    assert value(samples, "photon_device_temperature_limit_celsius", limit="interlock") == 80.0
    hottest = value(samples, "photon_device_hottest_point_estimated_celsius", device="sim0")
    headroom = value(samples, "photon_device_thermal_headroom_celsius", device="sim0")
    assert headroom == pytest.approx(70.0 - hottest, abs=0.5)
