"""`photond check-config`: the effective configuration and its sources; errors by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def check_config(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHOTON_")}
    return subprocess.run(
        [sys.executable, "-m", "photond", "check-config", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        cwd=cwd,
    )


def test_it_prints_each_value_with_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "photond.toml"
    config.write_text(
        "planning_queue_limit = 3\nlog_level = 'WARNING'\n"
        "[[devices]]\nid = 'chip0'\ndriver = 'serial'\noptions = { port = '/dev/ttyUSB9' }\n"
    )
    run = check_config(
        "--config",
        str(config),
        "--log-level",
        "DEBUG",
        env={"PHOTON_MAX_WORKERS": "2", "PHOTON_RETAIN_FINISHED_JOBS": "5"},
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert f"planning_queue_limit = 3  # file {config}" in lines
    assert 'log_level = "DEBUG"  # flag --log-level' in lines  # the flag wins over the file
    assert "planning_workers = 2  # environment PHOTON_MAX_WORKERS" in lines
    assert "retain_finished_jobs = 5  # environment PHOTON_RETAIN_FINISHED_JOBS" in lines
    assert "max_tasks_per_job = 100000  # default" in lines
    assert 'driver = "serial"' in lines and 'options = { port = "/dev/ttyUSB9" }' in lines
    assert run.stderr == ""  # the serial port is not opened: nothing to complain about


@pytest.mark.parametrize(
    ("file_text", "env", "named"),
    [
        ("planning_workers = 'two'\n", {}, "planning_workers must be an integer in [1, 64]"),
        ("", {"PHOTON_CONTROL_PERIOD_S": "fast"}, "PHOTON_CONTROL_PERIOD_S must be seconds"),
        ("speed = 3\n", {}, "unknown setting(s) ['speed']"),
        (
            "[[devices]]\nid = 'a'\ndriver = 'warp'\n",
            {},
            "devices[0].driver (a): no driver named 'warp'",
        ),
        (
            "[[devices]]\nid = 'a'\ndriver = 'sim'\noptions = { breaker_fails = '2' }\n",
            {},
            "devices[0].options (a): unknown breaker option(s) breaker_fails",
        ),
    ],
)
def test_an_error_names_the_key_or_variable_and_exits_2(
    tmp_path: Path, file_text: str, env: dict[str, str], named: str
) -> None:
    config = tmp_path / "photond.toml"
    config.write_text(file_text)
    run = check_config("--config", str(config), env=env)
    assert run.returncode == 2
    assert named in run.stderr, run.stderr
    assert run.stdout == ""


def test_unknown_photon_variables_are_warned_about(tmp_path: Path) -> None:
    run = check_config(env={"PHOTON_WORKERS": "4", "PHOTON_TARGET": "unix:/x"})
    assert run.returncode == 0
    assert run.stderr == "photond: warning: unknown variable PHOTON_WORKERS is ignored\n"
