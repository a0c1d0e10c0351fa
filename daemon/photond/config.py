"""Daemon configuration: defaults, then a TOML file, then PHOTON_* variables, then flags.

Each layer overrides the one before, and every value is checked once here, with an error that
names where it came from, so that a bad setting stops the daemon at start-up rather than
surfacing as odd behaviour later.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from photon_drivers.registry import DriverRegistryError, load_driver_class
from photon_sdk import DEFAULT_TCP_PORT, default_socket_path
from photond.loop.change_filter import DEFAULT_CHANGE_FILTER_S
from photond.loop.control_config import ControlConfig
from photond.loop.telemetry import (
    DEFAULT_HISTORY_S,
    DEFAULT_QUEUE_FRAMES,
    DEFAULT_STALL_TIMEOUT_S,
    DEFAULT_WRITE_INTERVAL_S,
    TelemetryConfig,
)
from photond.security.settings import SecurityConfig, SecurityConfigError, parse_security

# The Prometheus endpoint by default (the OpenTelemetry Prometheus exporter's port), and the
# value of metrics_listen that serves none.
DEFAULT_METRICS_LISTEN = "127.0.0.1:9464"
METRICS_OFF = "off"
# The accepted values of running_jobs_on_restart, the default first.
RUNNING_JOBS_ON_RESTART = ("fail", "resume")


class ConfigError(ValueError):
    """A setting is invalid; the message says which and where it came from."""


@dataclass(frozen=True)
class DeviceConfig:
    id: str
    driver: str
    options: Mapping[str, str] = field(default_factory=dict)


def default_listen() -> tuple[str, ...]:
    return (f"unix:{default_socket_path()}", f"127.0.0.1:{DEFAULT_TCP_PORT}")


@dataclass(frozen=True)
class DaemonConfig:
    listen: tuple[str, ...] = field(default_factory=default_listen)
    # Where the job journal lives.
    state_dir: Path = field(default_factory=lambda: Path("run"))
    # Device seconds per wall second on the simulated chip (1 = real time).
    time_scale: float = 1.0
    # Device seconds between sensor samples of the control loop.
    control_period_s: float = 0.01
    max_tasks_per_job: int = 100_000
    # Processes that check and plan submitted graphs (photond.rpc.planning_pool), and how many
    # plans they take at once, running or waiting, before refusing with RESOURCE_EXHAUSTED.
    planning_workers: int = 1
    planning_queue_limit: int = 8
    # Seconds the planning processes may go without a plan before they exit (each holds
    # ~200 MB resident, as much as the rest of an idle daemon); the next plan starts them
    # again and waits for their warm-up (seconds). 0: they stay for the daemon's lifetime.
    # Five minutes: a session of submits keeps them warm, an idle daemon lets them go.
    planning_idle_exit_s: float = 300.0
    # Finished jobs (completed, failed, cancelled) kept in the journal: the newest this many,
    # none older than this (seconds since they finished). Queued and running jobs always stay.
    retain_finished_jobs: int = 10_000
    retain_finished_s: float = 30 * 86_400.0
    # What start-up does with a job journaled as running (photond stopped while it ran): "fail"
    # it with the reason, or "resume" it from the device's state (photond.rpc.server).
    running_jobs_on_restart: str = "fail"
    log_level: str = "INFO"
    devices: tuple[DeviceConfig, ...] = (DeviceConfig(id="sim0", driver="sim"),)
    # The closed loop's settings (TOML table [closed_loop]; see photond.loop.closed_loop).
    closed_loop: ControlConfig = field(default_factory=ControlConfig)
    # Telemetry (photond.loop.telemetry): device seconds of samples kept per sensor for
    # GetHistory, frames queued per subscriber before the oldest are coalesced, and wall seconds
    # a subscriber may take nothing before it is closed with RESOURCE_EXHAUSTED; device seconds
    # each sensor's readings are averaged over before ON_CHANGE judges a change (0: raw); wall
    # seconds from one write to a subscriber to its next (frames that come sooner are batched).
    telemetry_history_s: float = DEFAULT_HISTORY_S
    telemetry_queue_frames: int = DEFAULT_QUEUE_FRAMES
    telemetry_stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S
    telemetry_change_filter_s: float = DEFAULT_CHANGE_FILTER_S
    telemetry_write_interval_s: float = DEFAULT_WRITE_INTERVAL_S
    # Identities, roles, TLS and per-identity limits (TOML table [security]; photond.security).
    security: SecurityConfig = field(default_factory=SecurityConfig)
    # Where Prometheus scrapes /metrics (photond.metrics.export): a loopback HOST:PORT (port 0
    # picks a free one), or "off" for no endpoint.
    metrics_listen: str = DEFAULT_METRICS_LISTEN

    @property
    def telemetry(self) -> TelemetryConfig:
        return TelemetryConfig(
            self.telemetry_history_s,
            self.telemetry_queue_frames,
            self.telemetry_stall_timeout_s,
            self.telemetry_change_filter_s,
            self.telemetry_write_interval_s,
        )

    def checked(self) -> DaemonConfig:
        if not self.listen:
            raise ConfigError("listen: at least one address is needed")
        for address in self.listen:
            check_listen_address(address, tls=self.security.tls is not None)
        if not (math.isfinite(self.time_scale) and self.time_scale > 0):
            raise ConfigError(f"time_scale must be a positive number, got {self.time_scale}")
        if not (math.isfinite(self.control_period_s) and 0 < self.control_period_s <= 1):
            raise ConfigError(f"control_period_s must be in (0, 1], got {self.control_period_s}")
        if self.max_tasks_per_job < 1:
            raise ConfigError(f"max_tasks_per_job must be at least 1, got {self.max_tasks_per_job}")
        if not 1 <= self.planning_workers <= 64:
            raise ConfigError(f"planning_workers must be in [1, 64], got {self.planning_workers}")
        if self.planning_queue_limit < 1:
            raise ConfigError(
                f"planning_queue_limit must be at least 1, got {self.planning_queue_limit}"
            )
        if not (math.isfinite(self.planning_idle_exit_s) and self.planning_idle_exit_s >= 0):
            raise ConfigError(
                "planning_idle_exit_s must be a number of seconds >= 0 (0: never), "
                f"got {self.planning_idle_exit_s}"
            )
        if self.retain_finished_jobs < 0:
            raise ConfigError(
                f"retain_finished_jobs must be at least 0, got {self.retain_finished_jobs}"
            )
        if not (math.isfinite(self.retain_finished_s) and self.retain_finished_s > 0):
            raise ConfigError(
                f"retain_finished_s must be a positive number, got {self.retain_finished_s}"
            )
        if self.running_jobs_on_restart not in RUNNING_JOBS_ON_RESTART:
            raise ConfigError(
                "running_jobs_on_restart must be "
                + " or ".join(repr(v) for v in RUNNING_JOBS_ON_RESTART)
                + f", got {self.running_jobs_on_restart!r}"
            )
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"log_level must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}"
            )
        if not (math.isfinite(self.telemetry_history_s) and 0 < self.telemetry_history_s <= 86_400):
            raise ConfigError(
                f"telemetry_history_s must be in (0, 86400], got {self.telemetry_history_s}"
            )
        if not 2 <= self.telemetry_queue_frames <= 1_000_000:
            raise ConfigError(
                f"telemetry_queue_frames must be in [2, 1000000], got {self.telemetry_queue_frames}"
            )
        if not (
            math.isfinite(self.telemetry_stall_timeout_s) and self.telemetry_stall_timeout_s > 0
        ):
            raise ConfigError(
                "telemetry_stall_timeout_s must be a positive number, got "
                f"{self.telemetry_stall_timeout_s}"
            )
        change_s = self.telemetry_change_filter_s
        if not (math.isfinite(change_s) and 0 <= change_s <= 10):
            raise ConfigError(f"telemetry_change_filter_s must be in [0, 10] s, got {change_s}")
        write_s = self.telemetry_write_interval_s
        if not (math.isfinite(write_s) and 0 <= write_s <= 1):
            raise ConfigError(f"telemetry_write_interval_s must be in [0, 1] s, got {write_s}")
        try:
            self.closed_loop.checked()
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        ids = [d.id for d in self.devices]
        if not ids:
            raise ConfigError("devices: at least one device is needed")
        if len(set(ids)) != len(ids):
            raise ConfigError(f"devices: duplicate device id in {ids}")
        if self.time_scale != 1.0:
            for device in self.devices:
                check_scalable(device)
        check_metrics_listen(self.metrics_listen)
        return self


def check_metrics_listen(address: str) -> None:
    """A loopback HOST:PORT or "off": the endpoint is plain HTTP without authentication, so
    a Prometheus on another host scrapes through a proxy that adds TLS, as gRPC needs it."""
    if address == METRICS_OFF:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"metrics_listen: {address!r} is neither HOST:PORT (loopback) nor {METRICS_OFF!r}"
        )
    if host not in _LOOPBACK_HOSTS:
        raise ConfigError(
            f"metrics_listen: {address!r} is not a loopback address; the metrics endpoint is "
            "plain HTTP, so serve it on loopback (or put a TLS proxy in front)"
        )


def check_scalable(device: DeviceConfig) -> None:
    """Refuse a time_scale other than 1 for a driver whose chip is real hardware.

    Scaled time only makes sense for a simulated chip; on real hardware the planner would
    believe heat settles faster than it does and the interlock would act too late.
    """
    try:
        driver_class = load_driver_class(device.driver)
    except DriverRegistryError as exc:
        raise ConfigError(f"devices[{device.id}].driver: {exc}") from exc
    if not driver_class.simulated:
        raise ConfigError(
            f"time_scale: must be 1 for device {device.id!r}: driver {device.driver!r} talks to "
            "real hardware, whose heat does not run faster than wall time"
        )


_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def check_listen_address(address: str, tls: bool = False) -> None:
    """Unix sockets and loopback, or any address with TLS ([security.tls]) configured."""
    if address.startswith("unix:"):
        if not address[len("unix:") :]:
            raise ConfigError("listen: 'unix:' needs a path")
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"listen: {address!r} is neither unix:PATH nor HOST:PORT")
    if host not in _LOOPBACK_HOSTS and not tls:
        raise ConfigError(
            f"listen: {address!r} is not a loopback address; listening beyond this host needs "
            "TLS: set [security.tls] cert_file and key_file in the config file"
        )


def load_config(
    path: Path | None, env: Mapping[str, str], overrides: Mapping[str, Any]
) -> DaemonConfig:
    """Layer the sources; `overrides` are flags already parsed (None means not given)."""
    config = DaemonConfig()
    if path is not None:
        config = _apply_file(config, path)
    config = _apply_env(config, env)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return replace(config, **given).checked()
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc


def _apply_file(config: DaemonConfig, path: Path) -> DaemonConfig:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    known = {
        "listen",
        "state_dir",
        "time_scale",
        "control_period_s",
        "max_tasks_per_job",
        "planning_workers",
        "planning_queue_limit",
        "planning_idle_exit_s",
        "retain_finished_jobs",
        "retain_finished_s",
        "running_jobs_on_restart",
        "log_level",
        "devices",
        "closed_loop",
        "telemetry_history_s",
        "telemetry_queue_frames",
        "telemetry_stall_timeout_s",
        "telemetry_change_filter_s",
        "telemetry_write_interval_s",
        "security",
        "metrics_listen",
    }
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    values: dict[str, Any] = {}
    for key, (convert, accepts) in _FILE_VALUES.items():
        if key in data:
            try:
                values[key] = convert(data[key])
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{path}: {key} must be {accepts}, got {data[key]!r} ({exc})"
                ) from None
    if "closed_loop" in data:
        values["closed_loop"] = _closed_loop(data["closed_loop"], path)
    if "security" in data:
        try:
            values["security"] = parse_security(data["security"], path.parent)
        except SecurityConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    return replace(config, **values)


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("not an array")
    return tuple(str(a) for a in value)


def _devices(value: Any) -> tuple[DeviceConfig, ...]:
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise TypeError("not an array of tables")
    devices = []
    for index, table in enumerate(value):
        unknown = set(table) - {"id", "driver", "options"}
        if unknown:
            raise ValueError(f"devices[{index}] has unknown key(s) {sorted(unknown)}")
        if "id" not in table or "driver" not in table:
            raise ValueError(f"devices[{index}] needs id and driver")
        options = table.get("options", {})
        if not isinstance(options, dict):
            raise TypeError(f"devices[{index}].options is not a table")
        devices.append(
            DeviceConfig(
                id=str(table["id"]),
                driver=str(table["driver"]),
                options={str(k): str(v) for k, v in options.items()},
            )
        )
    return tuple(devices)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not an integer")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


# The file's top-level settings (all but [closed_loop]): how each is read, what it accepts.
_FILE_VALUES: dict[str, tuple[Callable[[Any], Any], str]] = {
    "listen": (_strings, "an array of unix:PATH or HOST:PORT strings"),
    "state_dir": (lambda v: Path(_text(v)), "a directory path"),
    "time_scale": (_number, "a positive number"),
    "control_period_s": (_number, "seconds in (0, 1]"),
    "retain_finished_s": (_number, "a positive number of seconds"),
    "max_tasks_per_job": (_whole, "an integer >= 1"),
    "planning_workers": (_whole, "an integer in [1, 64]"),
    "planning_queue_limit": (_whole, "an integer >= 1"),
    "planning_idle_exit_s": (_number, "seconds >= 0 (0: never)"),
    "retain_finished_jobs": (_whole, "an integer >= 0"),
    "running_jobs_on_restart": (_text, "'fail' or 'resume'"),
    "log_level": (_text, "DEBUG, INFO, WARNING or ERROR"),
    "devices": (_devices, "an array of [[devices]] tables with id, driver and options"),
    "telemetry_history_s": (_number, "seconds in (0, 86400]"),
    "telemetry_queue_frames": (_whole, "an integer in [2, 1000000]"),
    "telemetry_stall_timeout_s": (_number, "a positive number of seconds"),
    "telemetry_change_filter_s": (_number, "seconds in [0, 10]"),
    "telemetry_write_interval_s": (_number, "seconds in [0, 1]"),
    "metrics_listen": (_text, "a loopback HOST:PORT or 'off'"),
}


def _closed_loop(table: Any, path: Path) -> ControlConfig:
    """The [closed_loop] table: photond.loop.closed_loop.ControlConfig's fields, checked by type."""
    fields = {f: type(getattr(ControlConfig(), f)) for f in ControlConfig.__dataclass_fields__}
    fields.pop("observer")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: closed_loop must be a table")
    unknown = set(table) - set(fields)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {sorted(unknown)} in [closed_loop]; "
            f"known: {sorted(fields)}"
        )
    try:
        return ControlConfig(**{k: fields[k](v) for k, v in table.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: [closed_loop]: {exc}") from exc


def _addresses(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split(",") if a.strip())


def _integer(text: str) -> int:
    return int(text)


# Each variable: (the setting it sets, how its text is read, what it accepts). Names beside
# PHOTON_<KEY> are the seed's names for the same setting (PHOTON_MAX_WORKERS).
ENV_VARIABLES: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "PHOTON_LISTEN": ("listen", _addresses, "comma-separated unix:PATH or HOST:PORT"),
    "PHOTON_STATE_DIR": ("state_dir", Path, "a directory path"),
    "PHOTON_TIME_SCALE": ("time_scale", float, "a positive number"),
    "PHOTON_CONTROL_PERIOD_S": ("control_period_s", float, "seconds in (0, 1]"),
    "PHOTON_MAX_TASKS_PER_JOB": ("max_tasks_per_job", _integer, "an integer >= 1"),
    "PHOTON_PLANNING_WORKERS": ("planning_workers", _integer, "an integer in [1, 64]"),
    "PHOTON_MAX_WORKERS": ("planning_workers", _integer, "an integer in [1, 64]"),
    "PHOTON_PLANNING_QUEUE_LIMIT": ("planning_queue_limit", _integer, "an integer >= 1"),
    "PHOTON_PLANNING_IDLE_EXIT_S": ("planning_idle_exit_s", float, "seconds >= 0 (0: never)"),
    "PHOTON_RETAIN_FINISHED_JOBS": ("retain_finished_jobs", _integer, "an integer >= 0"),
    "PHOTON_RETAIN_FINISHED_S": ("retain_finished_s", float, "a positive number of seconds"),
    "PHOTON_RUNNING_JOBS_ON_RESTART": ("running_jobs_on_restart", str, "fail or resume"),
    "PHOTON_LOG_LEVEL": ("log_level", str, "DEBUG, INFO, WARNING or ERROR"),
    "PHOTON_TELEMETRY_HISTORY_S": ("telemetry_history_s", float, "seconds in (0, 86400]"),
    "PHOTON_TELEMETRY_QUEUE_FRAMES": ("telemetry_queue_frames", _integer, "an integer >= 2"),
    "PHOTON_TELEMETRY_STALL_TIMEOUT_S": (
        "telemetry_stall_timeout_s",
        float,
        "a positive number of seconds",
    ),
    "PHOTON_TELEMETRY_CHANGE_FILTER_S": ("telemetry_change_filter_s", float, "seconds in [0, 10]"),
    "PHOTON_TELEMETRY_WRITE_INTERVAL_S": ("telemetry_write_interval_s", float, "seconds in [0, 1]"),
    "PHOTON_METRICS_LISTEN": ("metrics_listen", str, "a loopback HOST:PORT or off"),
}
# PHOTON_* variables read elsewhere: the config file's path, and the SDK's and photonctl's
# target (often set in the same shell).
OTHER_ENV_VARIABLES = ("PHOTON_CONFIG", "PHOTON_TARGET")


def unknown_env_variables(env: Mapping[str, str]) -> list[str]:
    """PHOTON_* variables photond does not read: a typo, or a setting of another version."""
    known = set(ENV_VARIABLES) | set(OTHER_ENV_VARIABLES)
    return sorted(k for k in env if k.startswith("PHOTON_") and k not in known)


def env_sources(env: Mapping[str, str]) -> dict[str, str]:
    """Setting -> the variable it is read from, for the variables set in `env`."""
    sources: dict[str, str] = {}
    for variable, (key, _, _) in ENV_VARIABLES.items():
        if variable in env:
            sources.setdefault(key, variable)  # PHOTON_<KEY> is listed before an alias
    return sources


def _apply_env(config: DaemonConfig, env: Mapping[str, str]) -> DaemonConfig:
    values: dict[str, Any] = {}
    read_from: dict[str, str] = {}
    for variable, (key, parse, accepts) in ENV_VARIABLES.items():
        if variable not in env:
            continue
        try:
            value = parse(env[variable])
        except ValueError:
            raise ConfigError(f"{variable} must be {accepts}, got {env[variable]!r}") from None
        if key in values and values[key] != value:
            raise ConfigError(
                f"{variable} and {read_from[key]} both set {key}, to different values "
                f"({env[variable]!r} and {env[read_from[key]]!r}): unset one"
            )
        values[key] = value
        read_from[key] = variable
    return replace(config, **values)


def env_config_path(env: Mapping[str, str] = os.environ) -> Path | None:
    value = env.get("PHOTON_CONFIG")
    return Path(value) if value else None
