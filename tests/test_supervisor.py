"""sd_notify from a real photond to a real datagram socket: READY, STATUS, WATCHDOG, STOPPING.

The watchdog is fed only while the device loop passes: the simulated chip's `powers_hang_s`
fault makes the loop's first power command block (as a hung link would), and the pings must
stop for as long as it does, then come back.
"""

from __future__ import annotations

import datetime
import itertools
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from daemon_process import cleanup, start_daemon
from photon_sdk import Client, JobState, TaskGraph

pytestmark = pytest.mark.integration

WATCHDOG_S = 3.0  # so photond pings every 1.5 s and calls a 1.5 s old heartbeat stale
HANG_S = 7.0


@dataclass
class Received:
    """Datagrams with their arrival time (monotonic), and the wall time READY=1 came."""

    messages: list[tuple[float, str]] = field(default_factory=list)
    ready_wall_s: float = 0.0

    def times(self, line: str) -> list[float]:
        return [t for t, m in self.messages if line in m.split("\n")]

    def statuses(self) -> list[str]:
        return [
            line[len("STATUS=") :]
            for _, m in self.messages
            for line in m.split("\n")
            if line.startswith("STATUS=")
        ]


class NotifySocket:
    """A bound AF_UNIX datagram socket, read by a thread, as systemd's notify socket is."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="pn-"))
        self.path = self.folder / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.received = Received()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.received.messages.append((time.monotonic(), message))
            if "READY=1" in message.split("\n"):
                self.received.ready_wall_s = time.time()

    def wait_for(self, line: str, count: int = 1, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.received.times(line)) < count:
            assert time.monotonic() < deadline, f"{count} x {line} not received: {self.received}"
            time.sleep(0.05)

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def notify(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    receiver = NotifySocket()
    # The daemon subprocess inherits the test's environment, as a service inherits systemd's.
    monkeypatch.setenv("NOTIFY_SOCKET", str(receiver.path))
    monkeypatch.setenv("WATCHDOG_USEC", str(int(WATCHDOG_S * 1e6)))
    # A variable photond does not read: warned about at start-up, not silently ignored.
    monkeypatch.setenv("PHOTON_WORKERS", "2")
    yield receiver
    receiver.close()


def test_ready_status_watchdog_while_the_loop_passes_and_stopping(
    notify: NotifySocket, tmp_path: Path
) -> None:
    config = tmp_path / "photond.toml"
    config.write_text(
        f'[[devices]]\nid = "sim0"\ndriver = "sim"\noptions = {{ powers_hang_s = "{HANG_S}" }}\n'
    )
    daemon = start_daemon(None, "--config", str(config))
    try:
        notify.wait_for("READY=1")
        assert 'msg="unknown variable ignored" variable=PHOTON_WORKERS' in daemon.log()
        # READY came after the kernels were warm (the log's stamps are wall time, UTC).
        warm = re.findall(r'ts=(\S+)Z \S+ \S+ msg="warm-up: kernels ready"', daemon.log())
        assert warm
        warm_s = datetime.datetime.fromisoformat(warm[-1] + "+00:00").timestamp()
        assert warm_s <= notify.received.ready_wall_s
        assert notify.received.statuses()[0].startswith("starting")
        notify.wait_for("WATCHDOG=1", count=2, timeout_s=30)
        ready_at = notify.received.times("READY=1")[0]

        # A job's first power command hangs the device loop for HANG_S wall seconds.
        graph = TaskGraph()
        graph.add_task("warm", duration_s=2.0, heater_power_mw={"h00": 10.0})
        with Client(daemon.target) as client:
            job = client.submit_job(graph)
            assert client.wait_job(job.id).state == JobState.COMPLETED
        pings_before = len(notify.received.times("WATCHDOG=1"))
        notify.wait_for("WATCHDOG=1", count=pings_before + 2, timeout_s=30)

        pings = [t for t in notify.received.times("WATCHDOG=1") if t > ready_at]
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        # While the loop hung, no ping: a gap of about HANG_S less the stale age (1.5 s);
        # pinging alone every 1.5 s, photond never leaves such a gap.
        assert max(gaps) > HANG_S - WATCHDOG_S, gaps
        assert len(pings) > gaps.index(max(gaps)) + 2  # and back after it
        log = daemon.log()
        assert 'msg="watchdog not fed: a device loop has not passed"' in log
        assert "sim0" in log.split("watchdog not fed")[1].split("\n")[0]
        assert "watchdog fed again" in log

        statuses = notify.received.statuses()
        assert any(s.startswith("1 device, 1 serving; jobs: 0 running, 0 queued") for s in statuses)
        assert any("jobs: 1 running" in s for s in statuses), statuses
        assert any("loop stuck: sim0" in s for s in statuses), statuses
        assert any(" °C on sim0" in s and "hottest" in s for s in statuses)

        # SIGUSR1 writes the state to the log and leaves photond running.
        daemon.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while "msg=state device=sim0" not in daemon.log():
            assert time.monotonic() < deadline, daemon.log()
            time.sleep(0.05)
        assert daemon.process.poll() is None
    finally:
        cleanup(daemon)
    notify.wait_for("STOPPING=1", timeout_s=5)
    assert notify.received.times("STOPPING=1")[0] > notify.received.times("READY=1")[0]


def test_a_stop_during_start_up_parks_and_is_not_answered_with_ready(
    notify: NotifySocket,
) -> None:
    socket_dir = Path(tempfile.mkdtemp(prefix="pd-"))
    process = subprocess.Popen(
        [
            sys.executable, "-m", "photond", "--listen", f"unix:{socket_dir}/p.sock",
            "--state-dir", str(socket_dir), "--metrics-listen", "off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        # The first STATUS comes before the devices open and the kernels load (seconds).
        deadline = time.monotonic() + 120
        while not notify.received.statuses():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.001)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert notify.received.times("READY=1") == []
    notify.wait_for("STOPPING=1", timeout_s=5)
    assert "received SIGTERM" in err and "msg=ready" not in err
