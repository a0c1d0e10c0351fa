"""``photonctl``: operate photond from a shell — devices, status, jobs, stops, live temperatures.

Talks to the daemon only through :class:`~photon_sdk.Client`, so the CLI is also a working
example of the SDK. Every command takes ``--json`` (output built from the SDK types'
``to_dict()``); errors go to stderr as ``photonctl: <CODE>: <message>``, and the exit status
says what kind of failure it was (:data:`EXIT_CODES`, also in ``photonctl --help``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO

from ._cli_auth import add_credential_options, client_credentials
from ._cli_bench import add_bench_options, run_bench
from ._cli_show import (
    job_lines,
    job_outcome,
    plan_summary,
    schedule_lines,
    state_line,
)
from ._client import Client
from ._errors import GraphError, PhotonError, RpcError, Unavailable, Unimplemented
from ._progress import follow_job
from ._table import format_kv, format_table, num, when
from ._target import default_target
from .graph import TaskGraph
from .types import Job, JobState, JobView, OptimizationLevel, ValidationLevel

__all__ = ["EXIT_CODES", "main"]

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130

#: What each exit status means; the ``--help`` epilog and README.md show this table.
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_JOB_FAILED: "the job failed or was cancelled (submit --wait, job --follow); "
    "health: not serving",
    EXIT_USAGE: "usage error: bad arguments, a task graph file missing or invalid, or an "
    "optional extra a command needs not installed (plot: photond[plot], bench: photond[bench])",
    EXIT_UNREACHABLE: "the daemon is unreachable (UNAVAILABLE, after gRPC's retries)",
    EXIT_REFUSED: "the daemon refused the request: any other gRPC error (INVALID_ARGUMENT, "
    "NOT_FOUND, FAILED_PRECONDITION, DEADLINE_EXCEEDED, ...)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

_Command = Callable[[Client, argparse.Namespace, TextIO], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``photonctl`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    if args.command is _bench:  # runs here, on the simulated chip: no daemon to reach
        try:
            return run_bench(args, sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
    if args.command is _submit and args.plan_only and (args.wait or args.validation):
        parser.error("--plan-only cannot be combined with --wait or --validation")
    if args.command is _submit and (args.file is None) == (args.workload is None):
        parser.error("give either a task graph FILE or --workload MODEL")
    if args.command is _submit and args.layers is not None and args.workload is None:
        parser.error("--layers goes with --workload")
    target = args.target or default_target()
    token, tls = client_credentials(parser, args)
    command: _Command = args.command
    try:
        with Client(target, timeout_s=args.timeout, token=token, tls=tls) as client:
            return command(client, args, sys.stdout)
    except Unavailable as exc:
        _report(exc)
        print(
            f"photonctl: could not reach photond at {target}; "
            "choose another with --target or PHOTON_TARGET",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    except RpcError as exc:
        _report(exc)
        return EXIT_REFUSED
    except GraphError as exc:
        print(f"photonctl: invalid task graph: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PhotonError as exc:  # a ProtocolError: an answer this SDK cannot read
        print(f"photonctl: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:
        # The reader went away (`photonctl jobs | head -3`): stop quietly, as Unix filters do;
        # stdout goes to /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _report(exc: RpcError) -> None:
    print(f"photonctl: {exc.code_name}: {exc.message}", file=sys.stderr)
    for line in exc.violation_lines():
        print(f"  {line}", file=sys.stderr)


def _epilog_exit_codes() -> str:
    lines = [f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items()]
    return "exit status:\n" + "\n".join(
        textwrap.fill(line, 96, subsequent_indent=" " * 7) for line in lines
    )


_MAIN_EXAMPLES = """\
examples:
  photonctl devices
  photonctl submit examples/mesh_calibration.json --wait --level quality
  photonctl --target 127.0.0.1:7451 status --json

Every command takes --json: one JSON document, or for streams (watch, job --follow) one JSON
object per line. Keys carry their units (_s, _c, _mw, ...). `photonctl COMMAND --help` shows
an example of each command.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photonctl",
        description="Operate a photond daemon: devices, jobs, stops, telemetry.",
        epilog=_MAIN_EXAMPLES + "\n" + _epilog_exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target",
        help="gRPC target of the daemon (default: $PHOTON_TARGET, else the first Unix socket "
        "found of $XDG_RUNTIME_DIR/photond/photond.sock, ./run/photond.sock and "
        "/run/photond/photond.sock, else 127.0.0.1:7451)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="deadline of every call in seconds (default: each call's own, e.g. 5 s for "
        "status, 60 s for submit)",
    )
    add_credential_options(parser)
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", help="print JSON (keys carry units) instead of text"
    )

    def command(name: str, run: _Command, help: str, *examples: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            epilog="example:\n" + "\n".join(f"  {e}" for e in examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(command=run)
        return sub

    command("devices", _devices, "list devices with their layout and limits", "photonctl devices")
    status = command("status", _status, "show live device state", "photonctl status --device sim0")
    status.add_argument("--device", default="", help="one device (default: every device)")

    submit = command(
        "submit",
        _submit,
        "submit a task graph JSON file (or only plan it, with --plan-only)",
        "photonctl submit examples/mesh_calibration.json --wait --level quality",
        "photonctl submit examples/mesh_calibration.json --plan-only --level fast",
        "photonctl submit --workload resnet50 --layers 4 --wait",
    )
    submit.add_argument("file", metavar="FILE", nargs="?", help="task graph JSON (or --workload)")
    submit.add_argument(
        "--workload",
        metavar="MODEL",
        help="instead of FILE, a model mapped onto the device: resnet50, bert_base or "
        "gpt2_small (needs the 'workloads' extra; docs/workloads.md)",
    )
    submit.add_argument(
        "--layers", type=int, metavar="N", help="with --workload: only the model's first N GEMMs"
    )
    submit.add_argument("--device", default="", help="device to run on (the only one if unset)")
    submit.add_argument("--name", default="", help="job name (default: the graph's name)")
    submit.add_argument("--wait", action="store_true", help="follow the job until it ends")
    submit.add_argument(
        "--level",
        choices=[str(level) for level in OptimizationLevel],
        help="how hard the planner searches (daemon default: balanced)",
    )
    submit.add_argument(
        "--validation",
        choices=[str(level) for level in ValidationLevel],
        help="how much the daemon checks the plan (daemon default: strict)",
    )
    submit.add_argument(
        "--plan-only",
        action="store_true",
        help="plan without running (PlanJob): print the schedule, its lower bound and gap",
    )

    watch = command(
        "watch",
        _watch,
        "live view of a device: heat map, hottest point and trend, headroom, job progress "
        "(redrawn in place on a terminal; one line per frame when piped or with --plain)",
        "photonctl watch --device sim0",
        "photonctl watch --interval 1 --count 10 --plain",
    )
    watch.add_argument("--device", default="", help="one device (default: the only one)")
    watch.add_argument(
        "--interval", type=float, default=0.5, metavar="S", help="device seconds per frame (0.5)"
    )
    watch.add_argument("--count", type=int, default=0, metavar="N", help="stop after N frames")
    watch.add_argument("--plain", action="store_true", help="one line per frame even on a terminal")

    jobs = command("jobs", _jobs, "list jobs, newest first", "photonctl jobs --limit 5")
    jobs.add_argument("--device", default="")
    jobs.add_argument("--limit", type=int, default=20, metavar="N", help="(20)")
    job = command(
        "job",
        _job,
        "show a job and its schedule; --follow prints its events until it ends",
        "photonctl job job-20261204-184300-dadb630c --follow",
    )
    job.add_argument("job_id", metavar="JOB_ID")
    job.add_argument(
        "--follow",
        action="store_true",
        help="print the job's events so far, then live ones, until it ends",
    )
    plot = command(
        "plot",
        _plot,
        "draw an ended job as a PNG: Gantt chart by lane (planned vs actual, re-plans) and "
        "the die's temperature over the job with the limits (needs the 'plot' extra)",
        "photonctl plot job-20261204-184300-dadb630c -o job.png",
    )
    plot.add_argument("job_id", metavar="JOB_ID")
    plot.add_argument("-o", "--output", required=True, metavar="FILE", help="PNG to write")
    cancel = command(
        "cancel", _cancel, "cancel a job", "photonctl cancel job-20261204-184300-dadb630c"
    )
    cancel.add_argument("job_id", metavar="JOB_ID")

    estop = command(
        "estop",
        _estop,
        "emergency stop: heaters off, dispatch paused, the running job held",
        'photonctl estop sim0 --reason "fibre swap"',
    )
    estop.add_argument("device", metavar="DEVICE")
    estop.add_argument("--reason", default="", help="recorded with the stop")
    resume = command(
        "resume", _resume, "leave an emergency stop and resume dispatch", "photonctl resume sim0"
    )
    resume.add_argument("device", metavar="DEVICE")

    limits = command(
        "limits",
        _limits,
        "show a device's operating limits, or tighten them (UpdateLimits) with the flags below",
        "photonctl limits",
        "photonctl limits sim0 --max-temperature 80 --max-gradient 4",
    )
    limits.add_argument("device", metavar="DEVICE", nargs="?", default="")
    for flag, field, unit in _LIMIT_FLAGS:
        limits.add_argument(f"--{flag}", type=float, dest=field, metavar=unit, help=f"new {field}")

    stats = command(
        "stats",
        _stats,
        "count jobs by outcome and total planning time",
        "photonctl stats --device sim0",
    )
    stats.add_argument("--device", default="", help="one device (default: every device)")
    bench = commands.add_parser(
        "bench",
        help="run a short comparative study on this machine, no daemon: jobs on the simulated "
        "chip under disturbances, heat-blind vs reactive vs photond open and closed loop vs "
        "the clairvoyant plan (needs the 'bench' extra; docs/study.md)",
        description="Run a short version of the comparative study (docs/study.md) on the\n"
        "simulated chip in this process: every workload x seed x disturbance, played under\n"
        "(a) a heat-blind plan with the interlock, (b) reactive throttling, (c) photond's plan\n"
        "open loop and (d) closed loop, against the clairvoyant plan. Prints a table per\n"
        "workload, the closed loop's regret and the wall time per section; progress goes to\n"
        "stderr. Without a daemon: --target and the credentials do not apply.",
        epilog="example:\n  photonctl bench\n"
        "  photonctl bench --workloads synthetic --scenarios 'none,cooling x1.5' --json "
        "bench.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_bench_options(bench)
    bench.set_defaults(command=_bench)
    health = command(
        "health",
        _health,
        "check the daemon's gRPC health service",
        "photonctl health --service photon.v1.Device/sim0",
    )
    health.add_argument("--service", default="", help="one service (default: the daemon)")
    return parser


def _bench(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """Never called with a client: main() runs bench before connecting (_cli_bench)."""
    raise AssertionError("photonctl bench runs without a daemon")


def _print_json(document: object, out: TextIO) -> None:
    print(json.dumps(document, indent=2, allow_nan=False), file=out)


def _print_json_line(document: object, out: TextIO) -> None:
    print(json.dumps(document, allow_nan=False), file=out, flush=True)


def _devices(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    devices = client.list_devices()
    if args.json:
        _print_json({"devices": [d.to_dict() for d in devices]}, out)
        return EXIT_OK
    rows = [
        [
            d.id,
            d.model,
            d.driver,
            str(len(d.heaters)),
            str(len(d.lanes)),
            str(len(d.sensors)),
            num(d.limits.max_device_temperature_c, 1),
            num(d.limits.interlock_temperature_c, 1),
            num(d.limits.max_thermal_gradient_c_per_mm, 1),
            num(d.limits.max_power_density_mw_per_mm2, 1),
        ]
        for d in devices
    ]
    headers = ["ID", "MODEL", "DRIVER", "HEATERS", "LANES", "SENSORS"]
    headers += ["MAX_C", "INTERLOCK_C", "GRADIENT_C/MM", "DENSITY_MW/MM2"]
    print(format_table(headers, rows, "lllrrrrrrr"), file=out)
    return EXIT_OK


def _status(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    ids = [args.device] if args.device else [d.id for d in client.list_devices()]
    states = [client.get_device_state(device_id) for device_id in ids]
    if args.json:
        _print_json({"states": [s.to_dict() for s in states]}, out)
        return EXIT_OK
    rows = [
        [
            s.device_id,
            "yes" if s.serving else "NO",
            num(s.max_temperature_c),
            num(s.mean_temperature_c),
            num(s.total_heater_power_mw, 1),
            s.active_job_id or "-",
            str(s.queued_jobs),
            num(s.device_time_s, 1),
        ]
        for s in states
    ]
    headers = ["DEVICE", "SERVING", "MAX_C", "MEAN_C", "POWER_MW", "ACTIVE_JOB", "QUEUED"]
    print(format_table([*headers, "DEVICE_TIME_S"], rows, "llrrrlrr"), file=out)
    for s in states:
        if not s.serving:
            print(state_line(s), file=out)
    return EXIT_OK


def _submit(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.workload is not None:
        from ._cli_workload import MissingWorkloadsExtra, workload_graph

        try:
            graph = workload_graph(client, args.workload, args.layers, args.device)
        except MissingWorkloadsExtra as exc:
            print(f"photonctl: {exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        try:
            graph = TaskGraph.load(args.file)
        except OSError as exc:  # a usage error like a bad graph: exit 2, not a daemon failure
            raise GraphError("", f"cannot read {args.file}: {exc.strerror or exc}") from exc
    level = OptimizationLevel(args.level) if args.level else None
    if args.plan_only:
        schedule = client.plan_job(graph, device_id=args.device, level=level)
        if args.json:
            _print_json(schedule.to_dict(), out)
        else:
            _print_lines(schedule_lines(schedule), out)
        return EXIT_OK
    validation = ValidationLevel(args.validation) if args.validation else None
    job = client.submit_job(
        graph,
        device_id=args.device,
        name=args.name or graph.name,
        level=level,
        validation=validation,
        view=_shown(args),
    )
    if not args.json:
        print(f"submitted job {job.id} on {job.device_id} ({job.state})", file=out)
        if job.schedule is not None and not args.wait:  # else the planned event shows it
            print(f"planned: {plan_summary(job.schedule)}", file=out)
    if args.wait:
        if args.json:
            job = client.wait_job(job.id)
        else:
            follow_job(client.watch_job(job.id), out)
            job = client.get_job(job.id, view=JobView.BASIC)
    if args.json:
        _print_json(job.to_dict(), out)
    elif args.wait:
        print(job_outcome(job), file=out)
    return _job_status(job) if args.wait else EXIT_OK


def _shown(args: argparse.Namespace) -> JobView:
    """The job as much as the output shows: whole for --json, else its figures alone (a
    100k-task job's graph, schedule and result are ~10 MB that a line of text leaves out)."""
    return JobView.FULL if args.json else JobView.BASIC


def _job_status(job: Job) -> int:
    return EXIT_OK if job.state is JobState.COMPLETED else EXIT_JOB_FAILED


def _watch(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    from ._watch import watch  # loads rich only for this command

    live = False if args.plain else None
    watch(client, args.device, args.interval, args.count, out, as_json=args.json, live=live)
    return EXIT_OK


def _jobs(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    jobs = client.list_jobs(args.device, limit=args.limit)
    if args.json:
        _print_json({"jobs": [j.to_dict() for j in jobs]}, out)
        return EXIT_OK
    rows = []
    for job in jobs:
        done = job.result.makespan_s if job.result else None
        planned = job.schedule.makespan_s if job.schedule else None
        makespan = done if done is not None else planned
        rows.append(
            [
                job.id,
                job.name or "-",
                job.device_id,
                str(job.state),
                str(job.task_count),
                when(job.submitted_at),
                "-" if makespan is None else num(makespan, 3),
            ]
        )
    headers = ["ID", "NAME", "DEVICE", "STATE", "TASKS", "SUBMITTED", "MAKESPAN_S"]
    print(format_table(headers, rows, "llllrlr"), file=out)
    return EXIT_OK


def _job(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.follow:
        return _follow(client, args.job_id, args.json, out)
    job = client.get_job(args.job_id)
    if args.json:
        _print_json(job.to_dict(), out)
    else:
        _print_lines(job_lines(job), out)
    return EXIT_OK


def _follow(client: Client, job_id: str, as_json: bool, out: TextIO) -> int:
    """Print a job's events (history, then live) until it ends; exit by its outcome."""
    if as_json:
        for event in client.watch_job(job_id):
            _print_json_line(event.to_dict(), out)
            if event.is_terminal:
                break
    else:
        follow_job(client.watch_job(job_id), out)  # a progress bar on a terminal
    job = client.get_job(job_id)
    if not as_json:
        print(job_outcome(job), file=out)
    return _job_status(job)


def _plot(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    from ._plot import (
        MissingExtra,
        PlotInputs,
        TracePoint,
        plot_job,
        require_matplotlib,
        trace_from_history,
    )

    try:
        require_matplotlib()
    except MissingExtra as exc:
        print(f"photonctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    job = client.get_job(args.job_id)
    if not job.is_terminal:
        print(
            f"photonctl: job {job.id} is {job.state}; plot it once it has ended "
            f"(photonctl job {job.id} --follow waits for that)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    events = []
    for event in client.watch_job(job.id):  # a finished job's whole history, then its end
        events.append(event)
        if event.is_terminal:
            break
    trace: list[TracePoint] = []
    note = ""
    window_s = job.device_end_time_s - job.device_start_time_s
    if window_s > 0:
        # Buckets keep the answer small for a long job: about 1,000 points, 0.1 s at least.
        bucket_s = max(window_s / 1000, 0.1)
        try:
            history = client.get_history_buckets(
                job.device_id, job.device_start_time_s, job.device_end_time_s, bucket_s
            )
            trace = trace_from_history(history)
            kept_from_s = history.retained_from_device_time_s - job.device_start_time_s
            if trace and kept_from_s > 0:
                note = (
                    f"telemetry from {num(kept_from_s, 1)} s on: the daemon keeps only its "
                    "last telemetry_history_s"
                )
            if not trace:
                note = "no telemetry recorded in the job's window (the daemon keeps a limited past)"
        except Unimplemented:
            note = "this daemon records no telemetry history (GetHistory: UNIMPLEMENTED)"
    else:
        note = "the job never ran on the device"
    inputs = PlotInputs(job, events, client.get_device(job.device_id), trace, note)
    path = plot_job(inputs, args.output)
    summary = {
        "job_id": job.id,
        "path": str(path),
        "tasks_planned": len(job.schedule.tasks) if job.schedule else 0,
        "replans": sum(1 for e in events if e.kind == "replanned"),
        "trace_points": len(trace),
    }
    if args.json:
        _print_json(summary, out)
    else:
        print(
            f"wrote {path}: {summary['tasks_planned']} tasks, {summary['replans']} re-plans, "
            f"{summary['trace_points']} temperature points",
            file=out,
        )
    return EXIT_OK


def _cancel(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    job = client.cancel_job(args.job_id, view=_shown(args))
    if args.json:
        _print_json(job.to_dict(), out)
    else:
        print(f"job {job.id}: {job.state}", file=out)
    return EXIT_OK


def _estop(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    state = client.emergency_stop(args.device, args.reason)
    if args.json:
        _print_json(state.to_dict(), out)
    else:
        print(state_line(state), file=out)
    return EXIT_OK


def _resume(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    state = client.resume(args.device)
    if args.json:
        _print_json(state.to_dict(), out)
    else:
        print(state_line(state), file=out)
    return EXIT_OK


#: photonctl limits' flags: the Limits field each sets, and its unit.
_LIMIT_FLAGS = (
    ("max-temperature", "max_device_temperature_c", "C"),
    ("max-gradient", "max_thermal_gradient_c_per_mm", "C/MM"),
    ("max-power-density", "max_power_density_mw_per_mm2", "MW/MM2"),
    ("interlock", "interlock_temperature_c", "C"),
    ("interlock-hysteresis", "interlock_hysteresis_c", "C"),
)


def _limits(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    changes = {
        field: getattr(args, field)
        for _, field, _ in _LIMIT_FLAGS
        if getattr(args, field) is not None
    }
    if changes:
        if not args.device:
            print("photonctl: name the DEVICE whose limits to change", file=sys.stderr)
            return EXIT_USAGE
        current = client.get_device(args.device).limits
        new = client.update_limits(args.device, dataclasses.replace(current, **changes))
        shown = [(args.device, new)]
    else:
        devices = [client.get_device(args.device)] if args.device else client.list_devices()
        shown = [(d.id, d.limits) for d in devices]
    if args.json:
        _print_json({"limits": [{"device_id": d, **lim.to_dict()} for d, lim in shown]}, out)
        return EXIT_OK
    rows = [
        [
            device_id,
            num(lim.max_device_temperature_c, 1),
            num(lim.interlock_temperature_c, 1),
            num(lim.interlock_hysteresis_c, 1),
            num(lim.max_thermal_gradient_c_per_mm, 2),
            num(lim.max_power_density_mw_per_mm2, 1),
        ]
        for device_id, lim in shown
    ]
    headers = ["DEVICE", "MAX_C", "INTERLOCK_C", "HYSTERESIS_C", "GRADIENT_C/MM"]
    print(format_table([*headers, "DENSITY_MW/MM2"], rows, "lrrrrr"), file=out)
    return EXIT_OK


def _stats(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    stats = client.get_job_stats(args.device or None)
    if args.json:
        _print_json({"device_id": args.device, **stats.to_dict()}, out)
        return EXIT_OK
    ended = stats.completed + stats.failed + stats.cancelled
    pairs = [("device", args.device or "all"), ("submitted", str(stats.submitted))]
    pairs += [("completed", str(stats.completed)), ("failed", str(stats.failed))]
    pairs += [("cancelled", str(stats.cancelled))]
    pairs += [("queued or running", str(stats.submitted - ended))]
    pairs += [("planning time", f"{num(stats.planning_time_total_s, 3)} s")]
    print(format_kv(pairs), file=out)
    return EXIT_OK


def _health(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    serving = client.check_health(args.service)
    if args.json:
        _print_json({"service": args.service, "serving": serving}, out)
    else:
        print("SERVING" if serving else "NOT_SERVING", file=out)
    return EXIT_OK if serving else EXIT_JOB_FAILED


def _print_lines(lines: Iterable[str], out: TextIO) -> None:
    print("\n".join(lines), file=out)


if __name__ == "__main__":
    sys.exit(main())
