"""The daemon's configuration: layering, and every bad value refused with its name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from photond.cli import build_config, parse_args
from photond.config import (
    ConfigError,
    DaemonConfig,
    DeviceConfig,
    load_config,
    unknown_env_variables,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "photond.toml"
    path.write_text(text)
    return path


def test_flags_override_environment_which_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "control_period_s = 0.05\nmax_tasks_per_job = 10\nlog_level = 'DEBUG'\n")
    env = {"PHOTON_CONTROL_PERIOD_S": "0.02", "PHOTON_MAX_TASKS_PER_JOB": "20"}
    config = load_config(path, env, {"control_period_s": 0.04, "max_tasks_per_job": None})
    assert config.control_period_s == 0.04  # the flag
    assert config.max_tasks_per_job == 20  # the environment; the flag was not given
    assert config.log_level == "DEBUG"  # the file


def test_planning_settings_come_from_the_file_the_environment_and_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "planning_workers = 2\nplanning_queue_limit = 3\n")
    config = load_config(path, {}, {})
    assert (config.planning_workers, config.planning_queue_limit) == (2, 3)
    env = {"PHOTON_PLANNING_WORKERS": "4", "PHOTON_PLANNING_QUEUE_LIMIT": "5"}
    config = load_config(path, env, {"planning_queue_limit": 6})
    assert (config.planning_workers, config.planning_queue_limit) == (4, 6)


def test_the_planning_idle_exit_comes_from_the_file_the_environment_and_flags(
    tmp_path: Path,
) -> None:
    assert DaemonConfig().planning_idle_exit_s == 300.0
    path = write(tmp_path, "planning_idle_exit_s = 0\n")
    assert load_config(path, {}, {}).planning_idle_exit_s == 0.0
    config = load_config(path, {"PHOTON_PLANNING_IDLE_EXIT_S": "2.5"}, {})
    assert config.planning_idle_exit_s == 2.5
    config = load_config(path, {"PHOTON_PLANNING_IDLE_EXIT_S": "2.5"}, {"planning_idle_exit_s": 9})
    assert config.planning_idle_exit_s == 9
    with pytest.raises(ConfigError, match="PHOTON_PLANNING_IDLE_EXIT_S"):
        load_config(None, {"PHOTON_PLANNING_IDLE_EXIT_S": "soon"}, {})


def test_retention_settings_come_from_the_file_the_environment_and_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "retain_finished_jobs = 5\nretain_finished_s = 60\n")
    config = load_config(path, {}, {})
    assert (config.retain_finished_jobs, config.retain_finished_s) == (5, 60.0)
    env = {"PHOTON_RETAIN_FINISHED_JOBS": "7", "PHOTON_RETAIN_FINISHED_S": "1.5"}
    config = load_config(path, env, {})
    assert (config.retain_finished_jobs, config.retain_finished_s) == (7, 1.5)
    args = parse_args(
        ["--config", str(path), "--retain-finished-jobs", "9", "--retain-finished-s", "2.5"]
    )
    config = build_config(args)
    assert (config.retain_finished_jobs, config.retain_finished_s) == (9, 2.5)


def test_running_jobs_on_restart_comes_from_the_file_the_environment_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_config(None, {}, {}).running_jobs_on_restart == "fail"
    path = write(tmp_path, "running_jobs_on_restart = 'resume'\n")
    assert load_config(path, {}, {}).running_jobs_on_restart == "resume"
    env = {"PHOTON_RUNNING_JOBS_ON_RESTART": "fail"}
    assert load_config(path, env, {}).running_jobs_on_restart == "fail"
    # The flag, through the command line's own parser, over the environment and the file.
    monkeypatch.setenv("PHOTON_RUNNING_JOBS_ON_RESTART", "fail")
    args = parse_args(["--config", str(path), "--running-jobs-on-restart", "resume"])
    assert build_config(args).running_jobs_on_restart == "resume"
    assert build_config(parse_args(["--config", str(path)])).running_jobs_on_restart == "fail"


@pytest.mark.parametrize(
    ("path_text", "env", "flag"),
    [
        ("running_jobs_on_restart = 'retry'\n", {}, None),
        ("", {"PHOTON_RUNNING_JOBS_ON_RESTART": "Resume"}, None),
        ("", {}, ""),
    ],
)
def test_a_bad_running_jobs_on_restart_names_the_key_and_the_values(
    tmp_path: Path, path_text: str, env: dict[str, str], flag: str | None
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, path_text), env, {"running_jobs_on_restart": flag})
    message = str(refused.value)
    assert "running_jobs_on_restart" in message
    assert "'fail'" in message and "'resume'" in message


def test_closed_loop_table_reaches_the_control_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "[closed_loop]\nmode = 'reactive'\nreplan_budget_s = 0.2\n")
    config = load_config(path, {}, {})
    assert config.closed_loop.mode == "reactive"
    assert config.closed_loop.replan_budget_s == 0.2


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("speed = 3\n", "speed"),
        ("control_period_s = 0\n", "control_period_s"),
        ("time_scale = -1\n", "time_scale"),
        ("log_level = 'LOUD'\n", "log_level"),
        ("listen = ['10.0.0.1:50051']\n", "listen"),
        ("[closed_loop]\nmode = 'psychic'\n", "mode"),
        ("[closed_loop]\nreplan_budget_s = -1.0\n", "replan_budget_s"),
        ("[closed_loop]\nturbo = true\n", "turbo"),
        ("max_tasks_per_job = 0\n", "max_tasks_per_job"),
        ("planning_workers = 0\n", "planning_workers"),
        ("planning_workers = 65\n", "planning_workers"),
        ("planning_queue_limit = 0\n", "planning_queue_limit"),
        ("planning_idle_exit_s = -1\n", "planning_idle_exit_s"),
        ("planning_idle_exit_s = nan\n", "planning_idle_exit_s"),
        ("planning_idle_exit_s = '1m'\n", "planning_idle_exit_s"),
        ("retain_finished_jobs = -1\n", "retain_finished_jobs"),
        ("retain_finished_s = 0\n", "retain_finished_s"),
    ],
)
def test_a_bad_setting_is_refused_by_name(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(write(tmp_path, text), {}, {})


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "control_period_s = = 1\n"), {}, {})


def test_scaled_time_runs_the_simulated_chip() -> None:
    config = DaemonConfig(time_scale=5.0).checked()
    assert config.time_scale == 5.0


def test_scaled_time_is_refused_for_a_driver_that_talks_to_hardware() -> None:
    serial = DeviceConfig(id="chip0", driver="serial", options={"port": "/dev/ttyUSB0"})
    with pytest.raises(ConfigError, match="time_scale: must be 1 for device 'chip0'"):
        DaemonConfig(time_scale=2.0, devices=(serial,)).checked()
    assert DaemonConfig(time_scale=1.0, devices=(serial,)).checked().time_scale == 1.0


def test_scaled_time_with_an_unknown_driver_names_the_device() -> None:
    ghost = DeviceConfig(id="ghost0", driver="no-such-driver")
    with pytest.raises(ConfigError, match=r"devices\[ghost0\]\.driver"):
        DaemonConfig(time_scale=2.0, devices=(ghost,)).checked()


def test_reading_the_configuration_does_not_import_the_loop_kernels() -> None:
    probe = (
        "import sys, photond.config; "
        "print(sorted(m for m in sys.modules if m.startswith('photond.planning.')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['photond.planning.graph', 'photond.planning.plan']"


def test_the_seed_names_set_the_log_level_and_the_planning_workers() -> None:
    config = load_config(None, {"PHOTON_LOG_LEVEL": "debug", "PHOTON_MAX_WORKERS": "3"}, {})
    assert (config.log_level, config.planning_workers) == ("debug", 3)
    both = {"PHOTON_MAX_WORKERS": "3", "PHOTON_PLANNING_WORKERS": "3"}
    assert load_config(None, both, {}).planning_workers == 3
    with pytest.raises(ConfigError, match="PHOTON_MAX_WORKERS and PHOTON_PLANNING_WORKERS"):
        load_config(None, {"PHOTON_MAX_WORKERS": "3", "PHOTON_PLANNING_WORKERS": "2"}, {})


@pytest.mark.parametrize(
    ("variable", "value", "accepts"),
    [
        ("PHOTON_MAX_WORKERS", "many", "an integer in [1, 64]"),
        ("PHOTON_TIME_SCALE", "fast", "a positive number"),
        ("PHOTON_RETAIN_FINISHED_JOBS", "1.5", "an integer >= 0"),
    ],
)
def test_a_bad_variable_is_refused_naming_it_and_what_it_accepts(
    variable: str, value: str, accepts: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, {variable: value}, {})
    assert str(error.value) == f"{variable} must be {accepts}, got {value!r}"


def test_unknown_photon_variables_are_found_and_the_known_ones_are_not() -> None:
    env = {
        "PHOTON_LOG_LEVEL": "INFO",
        "PHOTON_TARGET": "unix:/x",
        "PHOTON_CONFIG": "/etc/photond/photond.toml",
        "PHOTON_WORKERS": "4",
        "PHOTON_LOGLEVEL": "DEBUG",
        "HOME": "/root",
    }
    assert unknown_env_variables(env) == ["PHOTON_LOGLEVEL", "PHOTON_WORKERS"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("planning_workers = 'two'\n", "planning_workers must be an integer in [1, 64]"),
        ("time_scale = 'fast'\n", "time_scale must be a positive number"),
        ("listen = 'unix:/x'\n", "listen must be an array of unix:PATH or HOST:PORT strings"),
        ("[[devices]]\nid = 'a'\n", "devices[0] needs id and driver"),
        ("[[devices]]\nid = 'a'\ndriver = 'sim'\nport = 'x'\n", "unknown key(s) ['port']"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_what_it_accepts(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text), {}, {})
    assert named in str(error.value)


def test_metrics_listen_comes_from_the_file_the_environment_and_flags(tmp_path: Path) -> None:
    assert load_config(None, {}, {}).metrics_listen == "127.0.0.1:9464"  # loopback by default
    path = write(tmp_path, "metrics_listen = '127.0.0.1:9100'\n")
    assert load_config(path, {}, {}).metrics_listen == "127.0.0.1:9100"
    config = load_config(path, {"PHOTON_METRICS_LISTEN": "off"}, {})
    assert config.metrics_listen == "off"
    args = parse_args(["--config", str(path), "--metrics-listen", "localhost:0"])
    assert build_config(args).metrics_listen == "localhost:0"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("0.0.0.0:9464", "not a loopback address"),
        ("192.168.1.5:9464", "not a loopback address"),
        ("9464", "neither HOST:PORT"),
        ("127.0.0.1:http", "neither HOST:PORT"),
        ("127.0.0.1:70000", "neither HOST:PORT"),
        ("", "neither HOST:PORT"),
    ],
)
def test_a_bad_metrics_listen_is_refused_by_name(value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=f"metrics_listen: .*{named}"):
        load_config(None, {"PHOTON_METRICS_LISTEN": value}, {})


def test_metrics_listen_of_the_wrong_type_in_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="metrics_listen must be a loopback HOST:PORT or 'off'"):
        load_config(write(tmp_path, "metrics_listen = 9464\n"), {}, {})
