"""A device unreachable at start-up: photond starts, its breaker open, the others served."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from daemon_process import cleanup, start_daemon
from photon_sdk import Client, JobState, TaskGraph

pytestmark = pytest.mark.integration


def test_a_serial_port_that_does_not_exist_leaves_its_breaker_open(tmp_path: Path) -> None:
    missing = tmp_path / "ttyUSB9"  # no such device: as a board unplugged at boot
    config = tmp_path / "photond.toml"
    config.write_text(
        f"""
        [[devices]]
        id = "sim0"
        driver = "sim"

        [[devices]]
        id = "chip0"
        driver = "serial"
        options = {{ port = "{missing}", breaker_reset_s = "0.2" }}
        """
    )
    # The serial driver talks to hardware: real time only (time_scale 1).
    daemon = start_daemon(None, "--config", str(config), time_scale=1.0)
    try:
        with Client(daemon.target) as client:
            assert {d.id for d in client.list_devices()} == {"sim0", "chip0"}
            chip = client.get_device_state("chip0")
            assert not chip.serving
            assert "circuit breaker" in chip.not_serving_reason
            assert "cannot open serial port" in chip.not_serving_reason
            assert client.get_device_state("sim0").serving
            graph = TaskGraph()
            graph.add_task("a", duration_s=0.2, heater_power_mw={"h00": 5.0})
            job = client.submit_job(graph, device_id="sim0")
            assert client.wait_job(job.id).state == JobState.COMPLETED
        with grpc.insecure_channel(daemon.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            chip_health = health.Check(
                health_pb2.HealthCheckRequest(service="photon.v1.Device/chip0"), timeout=5
            )
        assert chip_health.status == health_pb2.HealthCheckResponse.NOT_SERVING
        log = daemon.log()
        assert "device unreachable at start-up" in log and "device=chip0" in log
    finally:
        cleanup(daemon)
