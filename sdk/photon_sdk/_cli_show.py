"""How ``photonctl`` shows jobs, plans, events and device states as text (``--json`` aside).

Kept apart from the command plumbing in ``cli.py``: these are pure functions from SDK types to
lines, so ``submit``, ``job`` and ``estop`` word the same things the same way.
"""

from __future__ import annotations

from typing import TextIO

from ._table import format_kv, format_table, num, when
from .types import DeviceState, Job, JobEvent, JobState, Schedule

__all__ = [
    "job_lines",
    "job_outcome",
    "plan_summary",
    "print_event",
    "schedule_lines",
    "state_line",
]


def plan_summary(schedule: Schedule) -> str:
    """One line: makespan, how far above its lower bound, predicted peak, planner."""
    peak = schedule.predicted_peak_temperature_c
    text = f"makespan {num(schedule.makespan_s, 3)} s"
    if schedule.lower_bound_s:
        text += f", lower bound {num(schedule.lower_bound_s, 3)} s"
        gap_pct = 100 * schedule.gap_to_bound
        # Rounding can leave a plan that meets its bound a hair below it: not "-0.0%".
        text += f", gap {num(max(gap_pct, 0.0), 1)}%"
    text += f", predicted peak {num(peak)} C" if peak else ", no thermal prediction"
    return text + (f" ({schedule.planner})" if schedule.planner else "")


def schedule_lines(schedule: Schedule) -> list[str]:
    """A plan in full: its summary, what planning cost, then every task by start time."""
    pairs = [("plan", plan_summary(schedule))]
    pairs.append(("planning time", f"{num(schedule.planning_time_s, 3)} s"))
    if schedule.statistics is not None:
        stats = schedule.statistics
        pairs.append(("level", stats.optimization_level.lower() or "-"))
        pairs.append(("search", f"{stats.rounds} rounds, {stats.evaluations} evaluations"))
    if schedule.predicted_peak_gradient_c_per_mm:
        gradient = num(schedule.predicted_peak_gradient_c_per_mm)
        pairs.append(("predicted peak gradient", f"{gradient} C/mm"))
    rows = [
        [t.task_id, t.lane_id, num(t.start_s, 3), num(t.end_s, 3)]
        for t in sorted(schedule.tasks, key=lambda t: (t.start_s, t.task_id))
    ]
    table = format_table(["TASK", "LANE", "START_S", "END_S"], rows, "llrr")
    return [format_kv(pairs), "", table]


def job_lines(job: Job) -> list[str]:
    """A job in full: who, when, how it went, then its tasks planned beside actual."""
    pairs = [("id", job.id), ("name", job.name or "-"), ("device", job.device_id)]
    pairs += [("state", str(job.state)), ("tasks", str(job.task_count))]
    pairs += [("submitted", when(job.submitted_at)), ("started", when(job.started_at))]
    pairs += [("finished", when(job.finished_at))]
    if job.failure_reason:
        pairs.append(("failure", job.failure_reason))
    if job.schedule is not None:
        pairs.append(("plan", plan_summary(job.schedule)))
    if job.result is not None:
        result = job.result
        pairs.append(("makespan", f"{num(result.makespan_s, 3)} s"))
        pairs.append(("peak temperature", f"{num(result.peak_temperature_c)} C"))
        pairs.append(("energy", f"{num(result.energy_mj, 1)} mJ"))
    lines = [format_kv(pairs)]
    if job.schedule is not None:
        actual = {t.task_id: t for t in job.result.tasks} if job.result else {}
        rows = []
        for t in sorted(job.schedule.tasks, key=lambda t: (t.start_s, t.task_id)):
            ran = actual.get(t.task_id)
            ran_cells = [num(ran.start_s, 3), num(ran.end_s, 3)] if ran else ["-", "-"]
            rows.append([t.task_id, t.lane_id, num(t.start_s, 3), num(t.end_s, 3), *ran_cells])
        headers = ["TASK", "LANE", "PLAN_START_S", "PLAN_END_S", "START_S", "END_S"]
        lines += ["", format_table(headers, rows, "llrrrr")]
    return lines


def job_outcome(job: Job) -> str:
    """The last line of a followed job: completed with its figures, or how it ended."""
    if job.state is JobState.COMPLETED and job.result is not None:
        result = job.result
        return (
            f"job {job.id} completed: makespan {num(result.makespan_s, 3)} s, "
            f"peak temperature {num(result.peak_temperature_c)} C, "
            f"energy {num(result.energy_mj, 1)} mJ"
        )
    reason = f": {job.failure_reason}" if job.failure_reason else ""
    return f"job {job.id} {job.state}{reason}"


def print_event(event: JobEvent, out: TextIO) -> None:
    """Print one event of a followed job as a line (terminal events are left to the outcome)."""
    if event.kind in ("task_started", "task_finished"):
        what = "start" if event.kind == "task_started" else "end"
        at = num(event.job_time_s or 0.0, 3)
        print(f"  {at:>10} s  {what:<5}  {event.task_id}  on {event.lane_id}", file=out)
    elif event.kind == "planned" and event.schedule is not None:
        print(f"planned: {plan_summary(event.schedule)}", file=out)
    elif event.kind == "job_started":
        print(f"job started at device time {num(event.device_time_s, 3)} s", file=out)
    elif event.kind == "replanned" and event.schedule is not None:
        print(f"re-planned ({event.reason}): {plan_summary(event.schedule)}", file=out)
    elif event.kind == "held":
        print(f"held: {event.reason}", file=out)
    elif event.kind == "resumed":
        print(f"resumed: {event.reason}" if event.reason else "resumed", file=out)
    out.flush()


def state_line(state: DeviceState) -> str:
    """One line on whether a device serves, and why not."""
    if state.serving:
        return f"{state.device_id}: serving"
    reason = state.not_serving_reason or "no reason given"
    return f"{state.device_id}: not serving: {reason}"
