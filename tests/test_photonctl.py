"""photonctl against a real daemon: what an operator types, and what they read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon_process import RunningDaemon

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


def photonctl(
    daemon: RunningDaemon, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photon_sdk.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PHOTON_TARGET": daemon.target, **(env or {})},
    )


def test_devices_and_status(daemon: RunningDaemon) -> None:
    devices = photonctl(daemon, "devices")
    assert devices.returncode == 0, devices.stderr
    assert "sim0" in devices.stdout and "64" in devices.stdout
    status = photonctl(daemon, "status")
    assert status.returncode == 0, status.stderr
    assert "sim0" in status.stdout


def test_submit_wait_prints_every_task_then_makespan(daemon: RunningDaemon) -> None:
    example = ROOT / "examples" / "mesh_calibration.json"
    task_ids = [t["id"] for t in json.loads(example.read_text())["tasks"]]
    run = photonctl(daemon, "submit", str(example), "--wait")
    assert run.returncode == 0, run.stderr
    for task_id in task_ids:
        assert f"start  {task_id} " in run.stdout and f"end    {task_id} " in run.stdout
    assert "completed: makespan" in run.stdout and "peak temperature" in run.stdout
    jobs = photonctl(daemon, "jobs")
    assert "mesh calibration and 8 MVMs" in jobs.stdout


def test_watch_prints_the_requested_number_of_frames(daemon: RunningDaemon) -> None:
    run = photonctl(daemon, "watch", "--count", "3", "--interval", "0.05")
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.strip().splitlines()) == 4  # header + 3 frames


def test_bad_graph_file_names_the_field(daemon: RunningDaemon, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"tasks": [{"id": "a", "duration_s": 1, "heater_power_mw": {"h99": 1}}]})
    )
    run = photonctl(daemon, "submit", str(bad))
    assert run.returncode == 1
    assert "INVALID_ARGUMENT" in run.stderr and "heater_powers[0].heater_id" in run.stderr


def test_unreachable_daemon_says_which_target_it_tried(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    target = f"unix:{tmp_path / 'nobody.sock'}"
    run = photonctl(daemon, "devices", env={"PHOTON_TARGET": target})
    assert run.returncode == 1
    assert target in run.stderr and "PHOTON_TARGET" in run.stderr
