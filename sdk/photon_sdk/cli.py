"""``photonctl``: operate photond from a shell — devices, status, jobs, live temperatures.

Talks to the daemon only through :class:`~photon_sdk.Client`, so the CLI is also a working
example of the SDK. Errors go to stderr as ``photonctl: <CODE>: <message>`` and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from ._client import Client
from ._errors import GraphError, PhotonError, RpcError, Unavailable
from ._table import format_kv, format_table, num, when
from ._target import default_target
from .graph import TaskGraph
from .types import Job, JobEvent, JobState, Schedule

__all__ = ["main"]

_Command = Callable[[Client, argparse.Namespace, TextIO], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``photonctl`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    target = args.target or default_target()
    command: _Command = args.command
    try:
        with Client(target, timeout_s=args.timeout) as client:
            return command(client, args, sys.stdout)
    except Unavailable as exc:
        _report(exc)
        print(
            f"photonctl: could not reach photond at {target}; "
            "choose another with --target or PHOTON_TARGET",
            file=sys.stderr,
        )
    except RpcError as exc:
        _report(exc)
    except GraphError as exc:
        print(f"photonctl: invalid task graph: {exc}", file=sys.stderr)
    except (PhotonError, OSError) as exc:
        print(f"photonctl: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


def _report(exc: RpcError) -> None:
    print(f"photonctl: {exc.code_name}: {exc.message}", file=sys.stderr)
    for violation in exc.field_violations:
        print(f"  {violation.field}: {violation.description}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photonctl", description="Operate a photond daemon: devices, jobs, telemetry."
    )
    parser.add_argument(
        "--target",
        help="gRPC target of the daemon (default: $PHOTON_TARGET, else its Unix socket if it "
        "exists, else 127.0.0.1:7451)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="per-call timeout (10 s)"
    )
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    def command(name: str, run: _Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(command=run)
        return sub

    command("devices", _devices, "list devices with their layout and limits")
    command("status", _status, "show live device state").add_argument("--device", default="")
    submit = command("submit", _submit, "submit a task graph JSON file")
    submit.add_argument("file", metavar="FILE")
    submit.add_argument("--device", default="", help="device to run on (the only one if unset)")
    submit.add_argument("--name", default="", help="job name (default: the file's name)")
    submit.add_argument("--wait", action="store_true", help="follow the job until it ends")
    watch = command("watch", _watch, "print live temperatures, one line per frame")
    watch.add_argument("--device", default="")
    watch.add_argument("--interval", type=float, default=0.5, metavar="S", help="(0.5 s)")
    watch.add_argument("--count", type=int, default=0, metavar="N", help="stop after N frames")
    jobs = command("jobs", _jobs, "list jobs, newest first")
    jobs.add_argument("--device", default="")
    jobs.add_argument("--limit", type=int, default=20, metavar="N", help="(20)")
    command("job", _job, "show a job and its schedule").add_argument("job_id", metavar="ID")
    command("cancel", _cancel, "cancel a job").add_argument("job_id", metavar="ID")
    stats = command("stats", _stats, "count jobs by outcome and total planning time")
    stats.add_argument("--device", default="", help="one device (default: every device)")
    health = command("health", _health, "check the daemon's gRPC health service")
    health.add_argument("--service", default="", help="one service (default: the daemon)")
    return parser


def _devices(client: Client, args: argparse.Namespace, out: TextIO) -> int:
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
        for d in client.list_devices()
    ]
    headers = ["ID", "MODEL", "DRIVER", "HEATERS", "LANES", "SENSORS"]
    headers += ["MAX_C", "INTERLOCK_C", "GRADIENT_C/MM", "DENSITY_MW/MM2"]
    print(format_table(headers, rows, "lllrrrrrrr"), file=out)
    return 0


def _status(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    ids = [args.device] if args.device else [d.id for d in client.list_devices()]
    states = [client.get_device_state(device_id) for device_id in ids]
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
            reason = s.not_serving_reason or "no reason given"
            print(f"{s.device_id}: not serving: {reason}", file=out)
    return 0


def _submit(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    graph = TaskGraph.load(args.file)
    job = client.submit_job(graph, device_id=args.device, name=args.name or graph.name)
    print(f"submitted job {job.id} on {job.device_id} ({job.state})", file=out)
    if job.schedule is not None:
        print(f"planned: {_plan_summary(job.schedule)}", file=out)
    if not args.wait:
        return 0
    job = client.wait_job(job.id, on_event=lambda event: _print_event(event, out))
    return _print_outcome(job, out)


def _print_event(event: JobEvent, out: TextIO) -> None:
    if event.kind in ("task_started", "task_finished"):
        what = "start" if event.kind == "task_started" else "end"
        at = num(event.job_time_s or 0.0, 3)
        print(f"  {at:>10} s  {what:<5}  {event.task_id}  on {event.lane_id}", file=out)
    elif event.kind == "job_started":
        print(f"job started at device time {num(event.device_time_s, 3)} s", file=out)
    out.flush()


def _print_outcome(job: Job, out: TextIO) -> int:
    if job.state is JobState.COMPLETED and job.result is not None:
        result = job.result
        print(
            f"job {job.id} completed: makespan {num(result.makespan_s, 3)} s, "
            f"peak temperature {num(result.peak_temperature_c)} C, "
            f"energy {num(result.energy_mj, 1)} mJ",
            file=out,
        )
        return 0
    reason = f": {job.failure_reason}" if job.failure_reason else ""
    print(f"job {job.id} {job.state}{reason}", file=out)
    return 0 if job.state is JobState.COMPLETED else 1


def _plan_summary(schedule: Schedule) -> str:
    peak = schedule.predicted_peak_temperature_c
    text = f"makespan {num(schedule.makespan_s, 3)} s"
    text += f", predicted peak {num(peak)} C" if peak else ", no thermal prediction"
    if schedule.lower_bound_s:
        text += f", {num(100 * schedule.gap_to_bound, 1)}% above bound"
    return text + (f" ({schedule.planner})" if schedule.planner else "")


def _watch(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    header = f"{'DEVICE_TIME_S':>13}  {'MAX_C':>7}  {'MEAN_C':>7}  {'HOTTEST':<8}"
    print(f"{header}  {'POWER_MW':>9}  {'DROPPED':>7}", file=out)
    with client.subscribe(args.device, sample_interval_s=args.interval) as frames:
        for shown, frame in enumerate(frames, start=1):
            print(
                f"{num(frame.device_time_s, 3):>13}  {num(frame.max_temperature_c):>7}  "
                f"{num(frame.mean_temperature_c):>7}  {frame.hottest_sensor_id:<8}  "
                f"{num(frame.total_heater_power_mw, 1):>9}  {frames.dropped_frames:>7}",
                file=out,
                flush=True,
            )
            if shown == args.count:
                break
    return 0


def _jobs(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    rows = []
    for job in client.list_jobs(args.device, limit=args.limit):
        done = job.result.makespan_s if job.result else None
        planned = job.schedule.makespan_s if job.schedule else None
        makespan = done if done is not None else planned
        rows.append(
            [
                job.id,
                job.name or "-",
                job.device_id,
                str(job.state),
                str(len(job.graph)),
                when(job.submitted_at),
                "-" if makespan is None else num(makespan, 3),
            ]
        )
    headers = ["ID", "NAME", "DEVICE", "STATE", "TASKS", "SUBMITTED", "MAKESPAN_S"]
    print(format_table(headers, rows, "llllrlr"), file=out)
    return 0


def _job(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    job = client.get_job(args.job_id)
    pairs = [("id", job.id), ("name", job.name or "-"), ("device", job.device_id)]
    pairs += [("state", str(job.state)), ("tasks", str(len(job.graph)))]
    pairs += [("submitted", when(job.submitted_at)), ("started", when(job.started_at))]
    pairs += [("finished", when(job.finished_at))]
    if job.failure_reason:
        pairs.append(("failure", job.failure_reason))
    if job.schedule is not None:
        pairs.append(("plan", _plan_summary(job.schedule)))
    if job.result is not None:
        result = job.result
        pairs.append(("makespan", f"{num(result.makespan_s, 3)} s"))
        pairs.append(("peak temperature", f"{num(result.peak_temperature_c)} C"))
        pairs.append(("energy", f"{num(result.energy_mj, 1)} mJ"))
    print(format_kv(pairs), file=out)
    if job.schedule is not None:
        actual = {t.task_id: t for t in job.result.tasks} if job.result else {}
        rows = []
        for t in sorted(job.schedule.tasks, key=lambda t: (t.start_s, t.task_id)):
            ran = actual.get(t.task_id)
            ran_cells = [num(ran.start_s, 3), num(ran.end_s, 3)] if ran else ["-", "-"]
            rows.append([t.task_id, t.lane_id, num(t.start_s, 3), num(t.end_s, 3), *ran_cells])
        headers = ["TASK", "LANE", "PLAN_START_S", "PLAN_END_S", "START_S", "END_S"]
        print("\n" + format_table(headers, rows, "llrrrr"), file=out)
    return 0


def _cancel(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    job = client.cancel_job(args.job_id)
    print(f"job {job.id}: {job.state}", file=out)
    return 0


def _stats(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    stats = client.get_job_stats(args.device or None)
    ended = stats.completed + stats.failed + stats.cancelled
    pairs = [("device", args.device or "all"), ("submitted", str(stats.submitted))]
    pairs += [("completed", str(stats.completed)), ("failed", str(stats.failed))]
    pairs += [("cancelled", str(stats.cancelled))]
    pairs += [("queued or running", str(stats.submitted - ended))]
    pairs += [("planning time", f"{num(stats.planning_time_total_s, 3)} s")]
    print(format_kv(pairs), file=out)
    return 0


def _health(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    serving = client.check_health(args.service)
    print("SERVING" if serving else "NOT_SERVING", file=out)
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
