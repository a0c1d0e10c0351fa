"""photonctl against a real daemon: what an operator types, and what they read back.

Each exit status of ``photonctl --help``'s table is produced here by a real situation: a
cancelled job followed to its end (1), bad arguments and graph files (2), a socket nobody
listens on (3), a job or heater the daemon does not know (4).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from daemon_process import RunningDaemon
from photon_sdk import Client, JobState, JobView, TaskGraph
from photon_sdk.cli import EXIT_CODES, main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mesh_calibration.json"
COMMANDS = ["devices", "status", "submit", "watch", "jobs", "job", "cancel", "estop", "resume"]
COMMANDS += ["stats", "health", "plot", "limits", "bench"]


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


def as_json(run: subprocess.CompletedProcess[str]) -> Any:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def json_lines(run: subprocess.CompletedProcess[str]) -> list[Any]:
    return [json.loads(line) for line in run.stdout.splitlines()]


def long_graph_file(tmp_path: Path) -> Path:
    """A one-task job of 600 device seconds (a minute at the tests' time scale): still
    running when the test cancels it, however loaded the machine."""
    graph = TaskGraph(name="long hold")
    graph.add_task("hold", duration_s=600.0, heater_power_mw={"h33": 20.0})
    path = tmp_path / "long.json"
    path.write_text(graph.to_json())
    return path


def test_devices_and_status(daemon: RunningDaemon) -> None:
    devices = photonctl(daemon, "devices")
    assert devices.returncode == 0, devices.stderr
    assert "sim0" in devices.stdout and "64" in devices.stdout
    status = photonctl(daemon, "status")
    assert status.returncode == 0, status.stderr
    assert "sim0" in status.stdout


def test_submit_wait_prints_every_task_then_makespan(daemon: RunningDaemon) -> None:
    task_ids = [t["id"] for t in json.loads(EXAMPLE.read_text())["tasks"]]
    run = photonctl(daemon, "submit", str(EXAMPLE), "--wait")
    assert run.returncode == 0, run.stderr
    for task_id in task_ids:
        assert f"start  {task_id} " in run.stdout and f"end    {task_id} " in run.stdout
    assert "completed: makespan" in run.stdout and "peak temperature" in run.stdout
    assert run.stdout.count("planned:") == 1
    jobs = photonctl(daemon, "jobs")
    assert "mesh calibration and 8 MVMs" in jobs.stdout


def test_submit_levels_reach_the_planner(daemon: RunningDaemon) -> None:
    run = photonctl(
        daemon, "submit", str(EXAMPLE), "--level", "fast", "--validation", "paranoid", "--json"
    )
    job = as_json(run)
    assert job["schedule"]["statistics"]["optimization_level"] == "FAST"
    assert job["schedule"]["statistics"]["rounds"] == 0  # FAST takes the first schedule
    assert job["request_id"], "the SDK sends an idempotency key with every submit"


def test_plan_only_prints_the_schedule_with_its_bound_and_gap(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        submitted_before = client.get_job_stats().submitted
    text = photonctl(daemon, "submit", str(EXAMPLE), "--plan-only", "--level", "fast")
    assert text.returncode == 0, text.stderr
    assert "lower bound" in text.stdout and "gap" in text.stdout and "%" in text.stdout
    for task in json.loads(EXAMPLE.read_text())["tasks"]:
        assert task["id"] in text.stdout
    schedule = as_json(photonctl(daemon, "submit", str(EXAMPLE), "--plan-only", "--json"))
    assert schedule["lower_bound_s"] > 0
    assert schedule["makespan_s"] >= schedule["lower_bound_s"] - 1e-9  # the bound is a bound
    assert schedule["gap_to_bound"] >= -1e-9
    assert {t["task_id"] for t in schedule["tasks"]} == {
        t["id"] for t in json.loads(EXAMPLE.read_text())["tasks"]
    }
    with Client(daemon.target) as client:
        assert client.get_job_stats().submitted == submitted_before, "a dry run journals nothing"


def test_every_command_prints_json_that_parses(daemon: RunningDaemon) -> None:
    assert as_json(photonctl(daemon, "devices", "--json"))["devices"][0]["id"] == "sim0"
    state = as_json(photonctl(daemon, "status", "--json"))["states"][0]
    assert {"max_temperature_c", "total_heater_power_mw", "serving"} <= set(state)
    job = as_json(photonctl(daemon, "submit", str(EXAMPLE), "--wait", "--json"))
    assert job["state"] == "completed" and job["result"]["makespan_s"] > 0
    assert job["graph"]["tasks"][0]["duration_s"] > 0
    assert as_json(photonctl(daemon, "job", job["id"], "--json"))["id"] == job["id"]
    listed = as_json(photonctl(daemon, "jobs", "--limit", "3", "--json"))["jobs"]
    assert job["id"] in [j["id"] for j in listed]
    assert as_json(photonctl(daemon, "stats", "--json"))["completed"] >= 1
    assert as_json(photonctl(daemon, "health", "--json")) == {"service": "", "serving": True}
    frames = json_lines(photonctl(daemon, "watch", "--count", "2", "--json", "--interval", "0.05"))
    assert len(frames) == 2 and all("temperature_c" in f for f in frames)
    events = photonctl(daemon, "job", job["id"], "--follow", "--json")
    assert events.returncode == 0, events.stderr
    kinds = [e["kind"] for e in json_lines(events)]
    assert kinds[0] == "planned" and kinds[-1] == "completed"


def test_job_follow_replays_then_ends_with_the_outcome(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    job = as_json(photonctl(daemon, "submit", str(EXAMPLE), "--json"))
    run = photonctl(daemon, "job", job["id"], "--follow")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("planned: makespan")
    assert "start  calibrate-z0 " in run.stdout
    assert lines[-1].startswith(f"job {job['id']} completed")


def test_cancelled_job_exits_1_when_followed(daemon: RunningDaemon, tmp_path: Path) -> None:
    job = as_json(photonctl(daemon, "submit", str(long_graph_file(tmp_path)), "--json"))
    cancelled = as_json(photonctl(daemon, "cancel", job["id"], "--json"))
    assert cancelled["state"] == "cancelled"
    followed = photonctl(daemon, "job", job["id"], "--follow")
    assert followed.returncode == 1, followed.stderr
    assert followed.stdout.splitlines()[-1] == f"job {job['id']} cancelled"
    # Cancelling it again is refused by the daemon: exit 4.
    again = photonctl(daemon, "cancel", job["id"])
    assert again.returncode == 4 and "FAILED_PRECONDITION" in again.stderr


def test_text_output_asks_for_the_jobs_figures_and_json_for_the_whole_job(
    daemon: RunningDaemon,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A line of text shows a job's figures, not its tasks: the daemon need not send the rest
    # (for a 100k-task job, ~10 MB). The calls go to the real daemon; this only notes the view.
    asked: list[tuple[str, JobView]] = []
    for name in ("submit_job", "get_job", "cancel_job"):
        real = getattr(Client, name)

        def noting(
            self: Client, *args: Any, _real: Any = real, _name: str = name, **kw: Any
        ) -> Any:
            asked.append((_name, kw["view"]))
            return _real(self, *args, **kw)

        monkeypatch.setattr(Client, name, noting)
    monkeypatch.setenv("PHOTON_TARGET", daemon.target)
    assert main(["submit", str(long_graph_file(tmp_path))]) == 0
    submitted = capsys.readouterr().out
    assert "planned: makespan 600" in submitted
    found = re.search(r"submitted job (\S+) on sim0", submitted)
    assert found
    assert main(["cancel", found.group(1)]) == 0
    assert capsys.readouterr().out == f"job {found.group(1)}: cancelled\n"
    assert main(["submit", str(EXAMPLE), "--wait"]) == 0
    assert "completed: makespan" in capsys.readouterr().out
    assert main(["submit", str(EXAMPLE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schedule"]["tasks"]
    assert asked == [
        ("submit_job", JobView.BASIC),
        ("cancel_job", JobView.BASIC),
        ("submit_job", JobView.BASIC),
        ("get_job", JobView.BASIC),
        ("submit_job", JobView.FULL),
    ]


def test_estop_and_resume(daemon: RunningDaemon) -> None:
    try:
        stopped = photonctl(daemon, "estop", "sim0", "--reason", "fibre swap")
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.strip() == "sim0: not serving: emergency stop: fibre swap"
        state = as_json(photonctl(daemon, "status", "--device", "sim0", "--json"))["states"][0]
        assert state["emergency_stopped"] and not state["serving"]
    finally:
        resumed = as_json(photonctl(daemon, "resume", "sim0", "--json"))
    assert resumed["serving"] and not resumed["emergency_stopped"]
    assert as_json(photonctl(daemon, "estop", "sim0", "--json"))["emergency_stopped"]
    assert photonctl(daemon, "resume", "sim0").stdout.strip() == "sim0: serving"


def test_usage_errors_exit_2(daemon: RunningDaemon, tmp_path: Path) -> None:
    cycle = tmp_path / "cycle.json"
    cycle.write_text(
        json.dumps(
            {
                "tasks": [
                    {"id": "a", "duration_s": 1, "depends_on": ["b"]},
                    {"id": "b", "duration_s": 1, "depends_on": ["a"]},
                ]
            }
        )
    )
    for args in (
        ("submit",),  # no file
        ("submit", str(EXAMPLE), "--level", "slow"),
        ("submit", str(EXAMPLE), "--plan-only", "--wait"),
        ("estop",),  # no device
        ("frobnicate",),
        ("submit", str(tmp_path / "missing.json")),
        ("submit", str(cycle)),
    ):
        run = photonctl(daemon, *args)
        assert run.returncode == 2, (args, run.stderr)
    assert "invalid task graph" in run.stderr


def test_bad_graph_file_is_refused_by_the_daemon_and_names_the_field(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"tasks": [{"id": "a", "duration_s": 1, "heater_power_mw": {"h99": 1}}]})
    )
    run = photonctl(daemon, "submit", str(bad))
    assert run.returncode == 4
    assert "INVALID_ARGUMENT" in run.stderr and "heater_powers[0].heater_id" in run.stderr
    unknown = photonctl(daemon, "job", "job-that-never-was")
    assert unknown.returncode == 4 and "NOT_FOUND" in unknown.stderr


def test_unreachable_daemon_exits_3_and_says_which_target_it_tried(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    target = f"unix:{tmp_path / 'nobody.sock'}"
    run = photonctl(daemon, "devices", env={"PHOTON_TARGET": target})
    assert run.returncode == 3
    assert target in run.stderr and "PHOTON_TARGET" in run.stderr


def test_submit_wait_exits_1_when_the_job_is_cancelled(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    path = long_graph_file(tmp_path)
    waiter = subprocess.Popen(
        [sys.executable, "-m", "photon_sdk.cli", "submit", str(path), "--wait", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PHOTON_TARGET": daemon.target},
    )
    try:
        with Client(daemon.target) as client:
            job = _newest_job_named(client, "long hold", waiter)
            client.cancel_job(job)
        out, err = waiter.communicate(timeout=120)
    finally:
        waiter.kill()
    assert waiter.returncode == 1, err
    assert json.loads(out)["state"] == "cancelled"


def _newest_job_named(client: Client, name: str, waiter: subprocess.Popen[str]) -> str:
    """The id of the job `waiter` submitted, once it is in the daemon's list."""
    deadline = time.monotonic() + 240  # the subprocess starts, imports grpc and submits
    while time.monotonic() < deadline:
        for job in client.list_jobs(limit=5):
            if job.name == name and not job.state.is_terminal:
                return job.id
        assert waiter.poll() is None, waiter.communicate()
        time.sleep(0.1)
    raise AssertionError("the submitted job never appeared")


def test_help_has_an_example_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        text = capsys.readouterr().out
        assert "example:" in text and f"photonctl {command}" in text, command
        assert "--json" in text, command


def test_exit_codes_are_documented_in_help_and_readme(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    readme = (ROOT / "README.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning}" in text
        assert f"| {code} |" in readme, code
    assert set(EXIT_CODES) >= {0, 1, 2, 3, 4}


def test_json_states_match_the_sdk(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        job = client.wait_job(client.submit_job(TaskGraph.load(EXAMPLE)).id)
    assert job.state is JobState.COMPLETED
    shown = as_json(photonctl(daemon, "job", job.id, "--json"))
    assert shown == json.loads(json.dumps(job.to_dict()))


def test_a_reader_that_goes_away_ends_watch_quietly(daemon: RunningDaemon) -> None:
    # `photonctl watch | head -2`: once the reader closes the pipe, watch stops with status 0.
    watcher = subprocess.Popen(
        [sys.executable, "-m", "photon_sdk.cli", "watch", "--interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PHOTON_TARGET": daemon.target},
    )
    try:
        assert watcher.stdout is not None and watcher.stderr is not None
        assert watcher.stdout.readline().startswith("DEVICE_TIME_S")
        watcher.stdout.readline()
        watcher.stdout.close()
        assert watcher.wait(timeout=120) == 0
        assert watcher.stderr.read() == ""
    finally:
        watcher.kill()
        watcher.wait()
        for pipe in (watcher.stdout, watcher.stderr):
            if pipe is not None:
                pipe.close()


def test_ctrl_c_ends_watch_with_130(daemon: RunningDaemon) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-m", "photon_sdk.cli", "watch", "--interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PHOTON_TARGET": daemon.target},
    )
    try:
        assert watcher.stdout is not None
        watcher.stdout.readline()  # the header: photonctl is up
        watcher.stdout.readline()  # a frame: it is streaming
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=120)
        assert watcher.returncode == 130, err
    finally:
        watcher.kill()
        watcher.wait()
