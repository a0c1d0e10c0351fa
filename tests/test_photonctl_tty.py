"""photonctl as an operator types it at a terminal: a pseudo-terminal (pexpect) for the live
views, the --json shapes of limits and plot, and the PNG plot writes."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pexpect
import pexpect.fdpexpect
import pytest

from daemon_process import RunningDaemon
from photon_sdk import Client, OptimizationLevel, TaskGraph

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mesh_calibration.json"
PHOTONCTL = [sys.executable, "-m", "photon_sdk.cli"]
# Strips ANSI escapes (colours, cursor moves) to read a terminal's text.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """photonctl on a pseudo-terminal of 40 x 150, read with pexpect.

    Started by subprocess (which execs at once), not by pexpect.spawn's fork: a fork of this
    test process, whose gRPC threads run, can crash in the child before it execs (gRPC's fork
    handlers restart a poller whose epoll fd the child no longer has: grpc/grpc#43055).
    """

    def __init__(self, daemon: RunningDaemon, *args: str) -> None:
        env = {**os.environ, "PHOTON_TARGET": daemon.target, "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))
        self.process = subprocess.Popen(
            [*PHOTONCTL, *args], stdin=slave, stdout=slave, stderr=slave, env=env
        )
        os.close(slave)
        self._child = pexpect.fdpexpect.fdspawn(master, encoding="utf-8", timeout=120)
        self.screen = ""  # everything the terminal was sent so far

    def expect(self, pattern: str) -> str:
        """Wait for ``pattern``; return what came up to and including it."""
        self._child.expect(pattern)
        text = str(self._child.before) + str(self._child.after)
        self.screen += text
        return text

    def interrupt(self) -> None:
        """Ctrl-C: the terminal's SIGINT."""
        self.process.send_signal(signal.SIGINT)

    def finish(self) -> int:
        """Read to the end of the output; return the exit status."""
        try:
            self._child.expect(pexpect.EOF)
        finally:
            self.screen += str(self._child.before)
            code = self.process.wait(timeout=120)
            self._child.close()
        return code

    def text(self) -> str:
        """The screen so far without its escape sequences."""
        return _ANSI.sub("", self.screen)


def run(daemon: RunningDaemon, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PHOTONCTL, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PHOTON_TARGET": daemon.target, **env},
    )


def parallel_hold() -> TaskGraph:
    """Four 600-device-second tasks on four lanes: running for the whole test."""
    graph = TaskGraph(name="four lanes hold")
    for i in range(4):
        graph.add_task(f"hold{i}", duration_s=600.0, zone_power_mw={f"z{i}": 120.0})
    return graph


def test_watch_redraws_a_live_view_in_place(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        job = client.submit_job(parallel_hold(), level=OptimizationLevel.FAST)
        try:
            watch = Terminal(daemon, "watch", "--interval", "0.2")
            try:
                watch.expect("die, sensors")
                watch.expect(f"job {job.id}")
                deadline = time.monotonic() + 60
                while len(set(re.findall(r"device time ([0-9.]+) s", watch.screen))) < 4:
                    assert time.monotonic() < deadline, watch.text()
                    watch.expect(r"device time [0-9.]+ s")
                watch.expect("running")  # the job line after the redraw in progress
                watch.interrupt()
            finally:
                code = watch.finish()
            assert code == 130, (code, watch.text()[-3000:])
        finally:
            client.cancel_job(job.id)
    screen = watch.screen
    text = _ANSI.sub("", screen)
    # A live view, not lines: cursor moves and line erases between redraws, colours.
    assert screen.count("\x1b[2K") > 10 and re.search(r"\x1b\[\d*A", screen)
    assert re.search(r"\x1b\[[0-9;]*48;[25];", screen)  # the heat map has background colours
    for part in ("limits and headroom", "hottest", "headroom", "interlock", "dropped"):
        assert part in text, part
    # The job line may wrap at the terminal's 80 columns (a longer ETA, "(plan)", does).
    assert re.search(r"0/4 tasks,\s+4\s+running", text), text[-2000:]
    assert "DEVICE_TIME_S" not in text  # the plain listing is for pipes only


def test_watch_plain_on_a_terminal_prints_lines(daemon: RunningDaemon) -> None:
    watch = Terminal(daemon, "watch", "--plain", "--count", "3", "--interval", "0.1")
    code = watch.finish()
    lines = watch.text().strip().splitlines()
    assert code == 0, watch.text()
    assert lines[0].split()[:3] == ["DEVICE_TIME_S", "MAX_C", "MEAN_C"] and len(lines) == 4


def test_submit_wait_draws_a_progress_bar_on_a_terminal(daemon: RunningDaemon) -> None:
    submit = Terminal(daemon, "submit", str(EXAMPLE), "--wait", "--level", "fast")
    code = submit.finish()
    text = submit.text()
    assert code == 0, text
    total = len(json.loads(EXAMPLE.read_text())["tasks"])
    assert "planned: makespan" in text
    assert f"{total}/{total} tasks" in text and "━" in text  # the bar, finished
    assert "ETA" in text
    assert "start  calibrate-z0" not in text  # no per-task lines on a terminal
    assert re.search(r"job \S+ completed: makespan", text)


def test_plot_writes_a_png_that_shows_the_job(daemon: RunningDaemon, tmp_path: Path) -> None:
    from PIL import Image

    with Client(daemon.target) as client:
        job = client.wait_job(client.submit_job(TaskGraph.load(EXAMPLE)).id)
    png = tmp_path / "job.png"
    shown = run(daemon, "plot", job.id, "-o", str(png), "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["path"] == str(png) and summary["job_id"] == job.id
    assert summary["tasks_planned"] == len(job.graph.tasks)
    assert set(summary) == {"job_id", "path", "tasks_planned", "replans", "trace_points"}
    assert png.stat().st_size > 20_000
    image = Image.open(png).convert("RGB")
    assert image.size[0] >= 1000 and image.size[1] >= 700
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 200  # text, bars, lines: not a blank page
    counts = dict((rgb, n) for n, rgb in colours)
    bar_blue = sum(n for rgb, n in counts.items() if _near(rgb, (43, 123, 186), 40))
    assert bar_blue > 2_000, "the actual-run bars are missing"
    assert summary["trace_points"] > 0, "GetHistory gave nothing for a job that just ran"
    trace_red = sum(n for rgb, n in counts.items() if _near(rgb, (214, 39, 40), 40))
    assert trace_red > 200, "the temperature trace is missing"


def _near(rgb: Any, target: tuple[int, int, int], tolerance: int) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, target, strict=True))


def test_plot_of_a_running_job_is_refused(daemon: RunningDaemon, tmp_path: Path) -> None:
    with Client(daemon.target) as client:
        job = client.submit_job(parallel_hold(), level=OptimizationLevel.FAST)
        try:
            refused = run(daemon, "plot", job.id, "-o", str(tmp_path / "x.png"))
        finally:
            client.cancel_job(job.id)
    assert refused.returncode == 4 and "--follow" in refused.stderr
    assert not (tmp_path / "x.png").exists()


_HIDE_MATPLOTLIB = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "matplotlib":
            raise ImportError("hidden")
sys.meta_path.insert(0, Hide())
from photon_sdk.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_plot_without_matplotlib_names_the_extra(daemon: RunningDaemon, tmp_path: Path) -> None:
    with Client(daemon.target) as client:
        job_id = client.list_jobs(limit=1)[0].id if client.list_jobs(limit=1) else "job-x"
    ran = subprocess.run(
        [sys.executable, "-c", _HIDE_MATPLOTLIB, "plot", job_id, "-o", str(tmp_path / "p.png")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PHOTON_TARGET": daemon.target},
    )
    assert ran.returncode == 2
    assert "photond[plot]" in ran.stderr and "matplotlib" in ran.stderr


def test_limits_shows_every_device_and_json_has_units(daemon: RunningDaemon) -> None:
    text = run(daemon, "limits")
    assert text.returncode == 0, text.stderr
    assert text.stdout.split()[:2] == ["DEVICE", "MAX_C"] and "sim0" in text.stdout
    document = json.loads(run(daemon, "limits", "--json").stdout)
    (limits,) = document["limits"]
    assert limits["device_id"] == "sim0"
    assert limits["max_device_temperature_c"] < limits["interlock_temperature_c"]
    assert {"max_thermal_gradient_c_per_mm", "max_power_density_mw_per_mm2"} <= set(limits)
    no_device = run(daemon, "limits", "--max-temperature", "80")
    assert no_device.returncode == 2 and "DEVICE" in no_device.stderr


def test_limits_set_tightens_only_the_named_limit(daemon: RunningDaemon) -> None:
    before = json.loads(run(daemon, "limits", "sim0", "--json").stdout)["limits"][0]
    try:
        tightened = run(daemon, "limits", "sim0", "--max-temperature", "80", "--json")
        assert tightened.returncode == 0, tightened.stderr
        after = json.loads(tightened.stdout)["limits"][0]
        assert after == {**before, "max_device_temperature_c": 80.0}
        shown = json.loads(run(daemon, "limits", "sim0", "--json").stdout)["limits"][0]
        assert shown == after  # the daemon keeps it
        beyond = run(daemon, "limits", "sim0", "--max-temperature", "500")
        assert beyond.returncode == 4 and "max_device_temperature_c" in beyond.stderr
    finally:
        restore = str(before["max_device_temperature_c"])
        assert run(daemon, "limits", "sim0", "--max-temperature", restore).returncode == 0
