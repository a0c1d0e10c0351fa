"""`photond`: start the daemon from flags, environment and config file; stop on a signal.

`photond check-config [flags]` prints the configuration a start would use (photond.service).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from photon_drivers.profile import ProfileError
from photond.blas import one_blas_thread
from photond.config import (
    METRICS_OFF,
    ConfigError,
    DaemonConfig,
    env_config_path,
    load_config,
    unknown_env_variables,
)
from photond.logs import configure_logging
from photond.metrics.export import configure_metrics
from photond.security import hash_token
from photond.service import lifecycle
from photond.service.check import check_config
from photond.tracing import configure_tracing

log = logging.getLogger("photond")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="photond",
        description="Thermal-aware control daemon for silicon-photonic accelerators.",
        epilog="photond check-config [FLAGS]: print the configuration that the file, the "
        "PHOTON_* variables and these flags make, with where each value came from, and exit "
        "(2 on an error). Signals: SIGHUP reloads the configuration, SIGUSR1 logs the state, "
        "SIGTERM parks the devices and stops (docs/operations.md).",
    )
    parser.add_argument("--config", type=Path, help="TOML config file (default: $PHOTON_CONFIG)")
    parser.add_argument(
        "--listen",
        action="append",
        metavar="ADDRESS",
        help="unix:PATH or HOST:PORT (loopback only); repeatable; replaces the default listeners",
    )
    parser.add_argument(
        "--state-dir", type=Path, help="where the job journal lives (default ./run)"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        help="device seconds per wall second on the simulated chip (default 1 = real time)",
    )
    parser.add_argument(
        "--control-period-s", type=float, help="sensor sampling period (default 0.01 s)"
    )
    parser.add_argument("--max-tasks-per-job", type=int, help="largest task graph accepted")
    parser.add_argument(
        "--planning-workers", type=int, help="processes that plan submitted graphs (default 1)"
    )
    parser.add_argument(
        "--planning-queue-limit",
        type=int,
        help="plans running or waiting before submits are refused (default 8)",
    )
    parser.add_argument(
        "--planning-idle-exit-s",
        type=float,
        help="seconds without a plan before the planning processes exit; the next plan starts "
        "them again (default 300; 0 = never)",
    )
    parser.add_argument(
        "--retain-finished-jobs",
        type=int,
        help="finished jobs kept in the journal, newest first (default 10000)",
    )
    parser.add_argument(
        "--retain-finished-s",
        type=float,
        help="seconds a finished job is kept after it finished (default 30 days)",
    )
    parser.add_argument(
        "--running-jobs-on-restart",
        help="what start-up does with a job photond was running when it stopped: "
        "fail (default) or resume it from the device's state",
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument(
        "--telemetry-history-s",
        type=float,
        help="device seconds of samples kept per sensor for GetHistory (default 600)",
    )
    parser.add_argument(
        "--telemetry-queue-frames",
        type=int,
        help="frames queued per telemetry subscriber before the oldest coalesce (default 256)",
    )
    parser.add_argument(
        "--telemetry-stall-timeout-s",
        type=float,
        help="seconds a telemetry subscriber may take nothing before it is closed (default 30)",
    )
    parser.add_argument(
        "--telemetry-change-filter-s",
        type=float,
        help="device seconds each sensor's readings are averaged over before ON_CHANGE judges "
        "a change (default 0.02; 0 judges raw readings)",
    )
    parser.add_argument(
        "--telemetry-write-interval-s",
        type=float,
        help="seconds from one write to a telemetry subscriber to its next; frames that come "
        "sooner go out together (default 0.005; 0: every frame at once)",
    )
    parser.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="where Prometheus scrapes /metrics: a loopback HOST:PORT (default "
        "127.0.0.1:9464; port 0 picks a free one) or off",
    )
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> DaemonConfig:
    return load_config(args.config or env_config_path(), os.environ, flag_overrides(args))


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags (None: not given)."""
    return {
        "listen": tuple(args.listen) if args.listen else None,
        "state_dir": args.state_dir,
        "time_scale": args.time_scale,
        "control_period_s": args.control_period_s,
        "max_tasks_per_job": args.max_tasks_per_job,
        "planning_workers": args.planning_workers,
        "planning_queue_limit": args.planning_queue_limit,
        "planning_idle_exit_s": args.planning_idle_exit_s,
        "retain_finished_jobs": args.retain_finished_jobs,
        "retain_finished_s": args.retain_finished_s,
        "running_jobs_on_restart": args.running_jobs_on_restart,
        "log_level": args.log_level,
        "telemetry_history_s": args.telemetry_history_s,
        "telemetry_queue_frames": args.telemetry_queue_frames,
        "telemetry_stall_timeout_s": args.telemetry_stall_timeout_s,
        "telemetry_change_filter_s": args.telemetry_change_filter_s,
        "telemetry_write_interval_s": args.telemetry_write_interval_s,
        "metrics_listen": args.metrics_listen,
    }


def print_banner(addresses: list[str], config: DaemonConfig) -> None:
    unix = next((a for a in addresses if a.startswith("unix:")), addresses[0])
    lines = [
        "photond is running on the simulated chip"
        if config.devices[0].driver == "sim"
        else "photond is running",
        *(f"  listening on {a}" for a in addresses),
        f"  job journal: {config.state_dir / 'jobs.sqlite3'}",
        "",
        "Try, in another terminal (photonctl finds this daemon by itself):",
        "  .venv/bin/photonctl devices",
        "  .venv/bin/photonctl status",
        "  .venv/bin/photonctl submit examples/mesh_calibration.json --wait",
        "  .venv/bin/photonctl watch",
        "  .venv/bin/photonctl jobs",
        f"(other clients: --target {unix} or PHOTON_TARGET={unix})",
        "Stop with Ctrl-C.",
    ]
    print("\n".join(lines), flush=True)


async def serve(config: DaemonConfig, args: argparse.Namespace) -> None:
    """Run until a stop signal; SIGHUP reads the same sources again (photond.service)."""
    await lifecycle.serve(config, lambda: build_config(args), print_banner)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hash-token"]:
        return hash_token.main(argv[1:])
    if argv[:1] == ["check-config"]:
        args = parse_args(argv[1:])
        return check_config(
            lambda: build_config(args),
            args.config or env_config_path(),
            os.environ,
            flag_overrides(args),
        )
    args = parse_args(argv)
    try:
        config = build_config(args)
    except ConfigError as exc:
        print(f"photond: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    for variable in unknown_env_variables(os.environ):
        log.warning("unknown variable ignored", extra={"variable": variable})
    configure_tracing()
    configure_metrics(prometheus=config.metrics_listen != METRICS_OFF)
    # Before the drivers and models are built: their eigendecompositions with a BLAS thread
    # per core stalled start-up for tens of seconds on a busy 2-core machine (photond.blas).
    one_blas_thread()
    try:
        asyncio.run(serve(config, args))
    except (ProfileError, LookupError, ValueError, OSError, RuntimeError) as exc:
        # Start-up failures a lab engineer can fix (bad profile, unknown driver, busy port).
        print(f"photond: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
