"""End to end over a real serial path: photond with the serial driver, the emulator on a pty.

The emulator runs as its own process on a pty (reached through a stable symlink, as udev's
/dev/serial/by-id links are) and takes faults on its control socket while jobs run.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_drivers.serial.emulator import send_command
from photon_sdk import Client, JobState, TaskGraph
from test_daemon_jobs import TelemetryRecorder, check_run, twenty_task_graph
from test_metrics_endpoint import scrape, value

pytestmark = pytest.mark.integration

TIME_SCALE = 1.0  # the serial driver talks to hardware: real time only
TIMEOUT_S = 0.03
ATTEMPTS = 12
BREAKER_FAILURES = 2
BREAKER_RESET_S = 0.5
# Worst case for the breaker to open once the device is silent: each failed loop pass makes
# two calls (the read, then the safe state) of at most 2 x attempts x timeout_s each, and
# backs off one control period; generous slack on top for a loaded machine.
OPEN_BOUND_S = BREAKER_FAILURES * (2 * 2 * ATTEMPTS * TIMEOUT_S + 0.02) + 10.0
DEVICE_HEALTH = "photon.v1.Device/chip0"


@dataclass
class Emulator:
    process: subprocess.Popen[str]
    device: str
    control: Path

    def command(self, line: str) -> str:
        answer = send_command(self.control, line)
        assert answer.startswith("ok"), answer
        return answer

    def stats(self) -> dict[str, float]:
        stats: dict[str, float] = json.loads(self.command("stats")[3:])
        return stats


@dataclass
class Rig:
    emulator: Emulator
    daemon: RunningDaemon

    def health(self) -> int:
        with grpc.insecure_channel(self.daemon.target) as channel:
            request = health_pb2.HealthCheckRequest(service=DEVICE_HEALTH)
            return int(health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll until `condition` holds; returns the seconds it took."""
    start_s = time.monotonic()
    while not condition():
        assert time.monotonic() - start_s < timeout_s, f"{what} did not happen in {timeout_s} s"
        time.sleep(0.02)
    return time.monotonic() - start_s


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("serial")
    link, control = tmp / "ttyPHOTON", tmp / "emulator.sock"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "photon_drivers.serial.emulator", "--pty", "--link", str(link),
            "--control", str(control), "--time-scale", str(TIME_SCALE), "--seed", "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    device = process.stdout.readline().strip()
    assert device == str(link), device
    config = tmp / "photond.toml"
    config.write_text(
        f"""
        [[devices]]
        id = "chip0"
        driver = "serial"
        [devices.options]
        port = "{link}"
        timeout_s = {TIMEOUT_S}
        attempts = {ATTEMPTS}
        backoff_s = 0.005
        breaker_failures = {BREAKER_FAILURES}
        breaker_reset_s = {BREAKER_RESET_S}
        """
    )
    try:
        daemon = start_daemon(
            None, "--config", str(config), "--control-period-s", "0.02", time_scale=TIME_SCALE
        )
        try:
            yield Rig(Emulator(process, device, control), daemon)
        finally:
            cleanup(daemon)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        process.stdout.close()


@pytest.fixture
def clean(rig: Rig) -> Rig:
    """Every test starts with no faults and a serving device."""
    rig.emulator.command("clear")
    rig.emulator.command("reconnect")
    wait_for(lambda: rig.health() == health_pb2.HealthCheckResponse.SERVING, 30, "SERVING")
    return rig


def run_twenty_tasks(rig: Rig) -> None:
    graph = twenty_task_graph()
    recorder = TelemetryRecorder(rig.daemon.target)
    try:
        with Client(rig.daemon.target) as client:
            lanes = len(client.get_device("chip0").lanes)
            job = client.submit_job(graph)
            events = list(client.watch_job(job.id))
            done = client.get_job(job.id)
    finally:
        recorder.close()
    assert done.state == JobState.COMPLETED, done.failure_reason
    check_run(graph, events, lanes)
    during = [
        f
        for f in recorder.frames
        if done.device_start_time_s <= f.device_time_s <= done.device_end_time_s
    ]
    assert len(during) >= 10, "telemetry kept flowing while the job ran"
    assert done.result is not None and done.result.peak_temperature_c > 25.5


def link_counters(log: str) -> dict[str, int]:
    """The last `serial link counters` line the driver logged (it logs one on close)."""
    lines = [line for line in log.splitlines() if "serial link counters" in line]
    assert lines, "the driver logged no counters"
    return {k: int(v) for k, v in re.findall(r" (\w+)=(\d+)(?= |$)", lines[-1])}


def test_job_completes_over_the_serial_link(clean: Rig) -> None:
    run_twenty_tasks(clean)


def test_job_completes_with_one_percent_corruption(clean: Rig) -> None:
    clean.emulator.command("corrupt 0.01")
    run_twenty_tasks(clean)
    clean.emulator.command("corrupt 0")
    stats = clean.emulator.stats()
    assert stats["corrupted_bytes"] > 0
    # The driver logs its counters when they changed, at most every 5 s: wait for one.
    wait_for(
        lambda: (
            "corrupt_frames=" in clean.daemon.log()
            and link_counters(clean.daemon.log())["corrupt_frames"] > 0
        ),
        30,
        "a counters log line with corrupt frames",
    )


def test_unplug_opens_the_breaker_and_replug_closes_it(clean: Rig) -> None:
    held = TaskGraph()
    held.add_task("hold", duration_s=600.0, heater_power_mw={"h00": 20.0})
    waiting = TaskGraph()
    waiting.add_task("after", duration_s=0.2, heater_power_mw={"h11": 10.0})
    with Client(clean.daemon.target) as client:
        job = client.submit_job(held)
        for event in client.watch_job(job.id):
            if event.kind == "task_started":
                break
        clean.emulator.command("disconnect")
        opened_s = wait_for(
            lambda: clean.health() == health_pb2.HealthCheckResponse.NOT_SERVING,
            OPEN_BOUND_S,
            "per-device health NOT_SERVING",
        )
        failed = client.wait_job(job.id)
        assert failed.state == JobState.FAILED
        assert "device error" in failed.failure_reason
        assert "not resumed" in failed.failure_reason
        wait_for(lambda: "circuit breaker open" in clean.daemon.log(), 10, "breaker open log")
        state = client.get_device_state("chip0")
        assert not state.serving and state.not_serving_reason.startswith("circuit breaker")
        # No dispatch while open: a new job waits in the queue.
        queued = client.submit_job(waiting)
        time.sleep(1.0)
        assert client.get_job(queued.id).state == JobState.QUEUED
        assert client.get_device_state("chip0").active_job_id == ""

        clean.emulator.command("reconnect")
        wait_for(
            lambda: clean.health() == health_pb2.HealthCheckResponse.SERVING,
            BREAKER_RESET_S + 30,
            "per-device health SERVING again",
        )
        assert client.wait_job(queued.id).state == JobState.COMPLETED
        assert client.get_device_state("chip0").serving
    log = clean.daemon.log()
    order = [log.index(f"circuit breaker {s}") for s in ("open", "half-open", "closed")]
    assert order == sorted(order), "the breaker closed through half-open"
    assert opened_s < OPEN_BOUND_S


def test_garbled_line_parks_the_device_once_it_clears(clean: Rig) -> None:
    """The line garbles every byte while a heater is on: no command gets through, so the safe
    state is re-sent (breaker open, then half-open probes) until the device takes it."""
    held = TaskGraph()
    held.add_task("hold", duration_s=600.0, heater_power_mw={"h22": 25.0})
    with Client(clean.daemon.target) as client:
        job = client.submit_job(held)
        for event in client.watch_job(job.id):
            if event.kind == "task_started":
                break
        assert clean.emulator.stats()["heater_power_mw"] == 25.0
        clean.emulator.command("corrupt 1")
        wait_for(
            lambda: clean.health() == health_pb2.HealthCheckResponse.NOT_SERVING,
            OPEN_BOUND_S,
            "NOT_SERVING",
        )
        assert client.wait_job(job.id).state == JobState.FAILED
        time.sleep(1.0)
        assert clean.emulator.stats()["heater_power_mw"] == 25.0, "nothing got through yet"
        clean.emulator.command("corrupt 0")
        wait_for(lambda: clean.emulator.stats()["heater_power_mw"] == 0.0, 30, "heaters off")


def test_a_daemon_at_a_20_ms_period_plans_every_start_on_its_grid(clean: Rig) -> None:
    graph = TaskGraph()
    previous: list[str] = []
    for i in range(6):
        # 10 ms tasks in a chain: at the default 10 ms tick they would start 10 ms apart.
        graph.add_task(f"c{i}", duration_s=0.01, depends_on=previous)
        previous = [f"c{i}"]
    with Client(clean.daemon.target) as client:
        schedule = client.plan_job(graph, device_id="chip0")
    starts = sorted(t.start_s for t in schedule.tasks)
    assert starts[-1] == pytest.approx(0.1)
    for start_s in starts:
        assert abs(start_s / 0.02 - round(start_s / 0.02)) < 1e-6, starts


def test_the_link_counters_are_metrics(clean: Rig) -> None:
    """Corrupt frames, retries and requests the link counts are on the Prometheus endpoint."""

    def corrupt_frames() -> float:
        found = scrape(clean.daemon.metrics_url()).get("photon_serial_corrupt_frames_total", [])
        return sum(v for labels, v in found if labels["device"] == "chip0")

    before = corrupt_frames()
    clean.emulator.command("corrupt 0.02")
    try:
        deadline = time.monotonic() + 60
        while corrupt_frames() <= before and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        clean.emulator.command("corrupt 0")
    samples = scrape(clean.daemon.metrics_url())
    assert value(samples, "photon_serial_corrupt_frames_total", device="chip0") > before
    assert value(samples, "photon_serial_retries_total", device="chip0") > 0
    assert value(samples, "photon_serial_requests_total", device="chip0") > 0
