"""Start a real photond process on a temporary Unix socket, and stop it like systemd would."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from photon_sdk import TaskGraph

# Device seconds per wall second: tests play the chip faster than real time.
TEST_TIME_SCALE = 10.0


@dataclass
class RunningDaemon:
    target: str
    state_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics_url(self) -> str:
        """The Prometheus endpoint's URL, as photond logged it at start-up."""
        found = re.search(r'msg="metrics endpoint" url=(\S+)', self.log())
        assert found, f"photond logged no metrics endpoint:\n{self.log()}"
        return found.group(1)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"photond ignored SIGTERM for {timeout_s} s:\n{self.log()}"
                ) from None
        return self.process.returncode


def start_daemon(
    state_dir: Path | None = None, *extra_args: str, time_scale: float = TEST_TIME_SCALE
) -> RunningDaemon:
    # Unix socket paths are limited to ~108 bytes: keep them short, under /tmp.
    socket_dir = Path(tempfile.mkdtemp(prefix="pd-"))
    state_dir = state_dir or socket_dir
    socket_path = socket_dir / "photond.sock"
    log_path = socket_dir / "photond.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "photond",
                "--listen",
                f"unix:{socket_path}",
                "--state-dir",
                str(state_dir),
                "--time-scale",
                str(time_scale),
                # A free port each: tests run daemons side by side (a test may name its own).
                "--metrics-listen",
                "127.0.0.1:0",
                *extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    daemon = RunningDaemon(f"unix:{socket_path}", state_dir, log_path, process)
    _wait_serving(daemon)
    return daemon


def _wait_serving(daemon: RunningDaemon, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise AssertionError(
                f"photond exited with {daemon.process.returncode}:\n{daemon.log()}"
            )
        try:
            with grpc.insecure_channel(daemon.target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.05)
    daemon.stop()
    raise AssertionError(f"photond did not report SERVING within {timeout_s} s:\n{daemon.log()}")


def holding_graph() -> TaskGraph:
    """One task that holds a heater for 10 device minutes: a job still running (or, behind
    another, queued) when the test stops, signals or restarts the daemon."""
    graph = TaskGraph()
    graph.add_task("hold", duration_s=600.0, heater_power_mw={"h00": 10.0})
    return graph


def cleanup(daemon: RunningDaemon) -> None:
    code = daemon.stop()
    shutil.rmtree(daemon.log_path.parent, ignore_errors=True)
    assert code == 0, f"photond exited with {code}"


def planning_workers(daemon: RunningDaemon) -> list[int]:
    """PIDs of the daemon's planning processes (its spawned children)."""
    return _children(daemon, b"spawn_main")


def resource_trackers(daemon: RunningDaemon) -> list[int]:
    """PIDs of the daemon's multiprocessing resource tracker (one while it has a pool)."""
    return _children(daemon, b"resource_tracker")


def thread_names(daemon: RunningDaemon) -> set[str]:
    """The kernel's names of the daemon's threads (`photond.thread_names`)."""
    names = set()
    for task in Path(f"/proc/{daemon.process.pid}/task").iterdir():
        try:
            names.add((task / "comm").read_text().strip())
        except OSError:  # the thread ended meanwhile
            continue
    return names


def _children(daemon: RunningDaemon, marker: bytes) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == daemon.process.pid and marker in cmdline:
            pids.append(int(entry.name))
    return pids
