"""``photonctl plot``: one job as a PNG — its plan against what ran, and the die's temperature.

Top: a Gantt chart by lane, each task's planned slot as a hollow bar and its actual run as a
filled one, with a marker at every re-plan. Bottom: the hottest and the mean sensor reading
over the job's window (recorded telemetry, ``GetHistory``) with the temperature limit and the
interlock. Both share the job-time axis (seconds after the job's start).

matplotlib is an optional extra (``pip install 'photond[plot]'``): the SDK and the rest of
photonctl never import it, and :func:`require_matplotlib` names the extra when it is absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .types import Device, Job, JobEvent, ScheduledTask, TelemetryHistory

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "MissingExtra",
    "PlotInputs",
    "TracePoint",
    "actual_tasks",
    "plot_job",
    "require_matplotlib",
    "trace_from_history",
]

#: Task bars beyond this many are drawn without their ids (they would only overlap).
LABELLED_TASKS_MAX = 40


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message names the extra to install."""


def require_matplotlib() -> None:
    """Raise :class:`MissingExtra` naming the ``plot`` extra when matplotlib is absent."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(
            "plotting needs matplotlib, in the 'plot' extra: pip install 'photond[plot]'"
        ) from exc


def actual_tasks(events: Sequence[JobEvent]) -> list[ScheduledTask]:
    """What ran, from a job's events: each task's lane, start and end in job seconds.

    A task that started and never finished (the job failed or was cancelled) ends at the
    job's last event. A task that ran twice (after a restart) keeps its last run.
    """
    started: dict[str, tuple[str, float]] = {}
    ran: dict[str, ScheduledTask] = {}
    last_s = 0.0
    for event in events:
        if event.job_time_s is not None:
            last_s = max(last_s, event.job_time_s)
        if event.kind == "task_started" and event.job_time_s is not None:
            started[event.task_id] = (event.lane_id, event.job_time_s)
        elif event.kind == "task_finished" and event.job_time_s is not None:
            lane_id, start_s = started.pop(event.task_id, (event.lane_id, event.job_time_s))
            ran[event.task_id] = ScheduledTask(event.task_id, lane_id, start_s, event.job_time_s)
    for task_id, (lane_id, start_s) in started.items():
        ran[task_id] = ScheduledTask(task_id, lane_id, start_s, max(last_s, start_s))
    return sorted(ran.values(), key=lambda t: (t.start_s, t.task_id))


@dataclass(frozen=True)
class TracePoint:
    """The die at one device time: hottest and mean sensor reading (°C)."""

    device_time_s: float
    hottest_c: float
    mean_c: float


def trace_from_history(history: TelemetryHistory) -> list[TracePoint]:
    """Hottest and mean reading over time from recorded telemetry (buckets or samples).

    For a bucket the hottest is the highest of its sensors' maxima and the mean the mean of
    their means, at the bucket's start; buckets without samples are left out.
    """
    points = []
    for bucket in history.buckets:
        highs = [c for c in bucket.max_c.values() if c == c]  # NaN: no reading in the bucket
        means = [c for c in bucket.mean_c.values() if c == c]
        if bucket.samples and highs and means:
            points.append(
                TracePoint(bucket.start_device_time_s, max(highs), sum(means) / len(means))
            )
    for frame in history.frames:
        if frame.temperature_c:
            points.append(
                TracePoint(frame.device_time_s, frame.max_temperature_c, frame.mean_temperature_c)
            )
    return points


@dataclass(frozen=True)
class PlotInputs:
    """What one job's plot is drawn from (all fetched by the caller)."""

    job: Job
    events: Sequence[JobEvent]
    device: Device
    # Empty: the daemon could not give the window's telemetry (``history_note`` says why).
    trace: Sequence[TracePoint]
    history_note: str = ""


def plot_job(inputs: PlotInputs, path: Path | str) -> Path:
    """Draw ``inputs`` into a PNG at ``path`` and return the path."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed (compile hosts, SSH sessions)
    import matplotlib.pyplot as plt

    job = inputs.job
    figure, (gantt, heat) = plt.subplots(
        2, 1, figsize=(11, 7.5), sharex=True, height_ratios=(3, 2), constrained_layout=True
    )
    _draw_gantt(gantt, inputs)
    _draw_temperature(heat, inputs)
    title = f"{job.name or job.id} on {job.device_id}: {job.state}"
    if job.result is not None:
        title += f", makespan {job.result.makespan_s:.3f} s"
    elif job.schedule is not None:
        title += f", planned makespan {job.schedule.makespan_s:.3f} s"
    figure.suptitle(f"{title}\n{job.id}", fontsize=11)
    out = Path(path)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def _replan_times_s(inputs: PlotInputs) -> list[tuple[float, str]]:
    start = inputs.job.device_start_time_s
    return [
        (event.device_time_s - start, event.reason)
        for event in inputs.events
        if event.kind == "replanned"
    ]


def _draw_gantt(axes: Axes, inputs: PlotInputs) -> None:
    job = inputs.job
    planned = list(job.schedule.tasks) if job.schedule is not None else []
    actual = actual_tasks(inputs.events)
    lane_ids = [lane.id for lane in inputs.device.lanes]
    lane_ids += sorted({t.lane_id for t in [*planned, *actual]} - set(lane_ids))
    used = {t.lane_id for t in [*planned, *actual]}
    lane_ids = [lane for lane in lane_ids if lane in used] or lane_ids
    row = {lane: i for i, lane in enumerate(lane_ids)}
    for lane in lane_ids:
        plan_bars = [(t.start_s, t.end_s - t.start_s) for t in planned if t.lane_id == lane]
        run_bars = [(t.start_s, t.end_s - t.start_s) for t in actual if t.lane_id == lane]
        y = row[lane]
        axes.broken_barh(
            plan_bars, (y - 0.4, 0.8), facecolors="none", edgecolors="#555555", linewidths=1.0
        )
        axes.broken_barh(run_bars, (y - 0.28, 0.56), facecolors="#2b7bba", alpha=0.85)
    if len(actual) <= LABELLED_TASKS_MAX:
        for t in actual:
            axes.text(
                (t.start_s + t.end_s) / 2, row[t.lane_id], t.task_id,
                ha="center", va="center", fontsize=6, color="white", clip_on=True,
            )  # fmt: skip
    for i, (at_s, _) in enumerate(_replan_times_s(inputs)):
        axes.axvline(at_s, color="#d62728", linestyle="--", linewidth=1.2,
                     label="re-plan" if i == 0 else None)  # fmt: skip
    axes.set_yticks(range(len(lane_ids)), lane_ids)
    axes.invert_yaxis()
    axes.set_ylabel("lane")
    axes.set_title("tasks by lane: planned (outline) vs actual (filled)", fontsize=10)
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor="none", edgecolor="#555555", label="planned"),
        Patch(facecolor="#2b7bba", label="actual"),
    ]
    replan_lines = [h for h in axes.get_lines() if h.get_label() == "re-plan"]
    # Beside the axes, not on them: a legend inside would cover the last tasks' bars.
    axes.legend(
        handles=handles + replan_lines, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8
    )
    axes.grid(axis="x", alpha=0.3)


def _draw_temperature(axes: Axes, inputs: PlotInputs) -> None:
    job, limits = inputs.job, inputs.device.limits
    trace = inputs.trace
    if trace:
        times_s = [p.device_time_s - job.device_start_time_s for p in trace]
        axes.plot(times_s, [p.hottest_c for p in trace], color="#d62728",
                  linewidth=1.4, label="hottest sensor")  # fmt: skip
        axes.plot(times_s, [p.mean_c for p in trace], color="#ff9f40",
                  linewidth=1.0, label="mean of sensors")  # fmt: skip
        if inputs.history_note:
            axes.text(0.01, 0.04, inputs.history_note, transform=axes.transAxes, fontsize=8,
                      color="#666666")  # fmt: skip
    else:
        note = inputs.history_note or "no telemetry recorded in the job's window"
        axes.text(0.5, 0.5, note, transform=axes.transAxes, ha="center", va="center",
                  fontsize=9, color="#666666")  # fmt: skip
    axes.axhline(limits.max_device_temperature_c, color="black", linestyle="-", linewidth=1.0,
                 label=f"limit {limits.max_device_temperature_c:g} °C")  # fmt: skip
    axes.axhline(limits.interlock_temperature_c, color="black", linestyle=":", linewidth=1.0,
                 label=f"interlock {limits.interlock_temperature_c:g} °C")  # fmt: skip
    if job.schedule is not None and job.schedule.predicted_peak_temperature_c:
        axes.axhline(job.schedule.predicted_peak_temperature_c, color="#2ca02c",
                     linestyle="--", linewidth=1.0, label="predicted peak (plan)")  # fmt: skip
    for at_s, _ in _replan_times_s(inputs):
        axes.axvline(at_s, color="#d62728", linestyle="--", linewidth=1.0, alpha=0.6)
    lowest_c = min([inputs.device.ambient_c, *(p.mean_c for p in trace)])
    axes.set_ylim(bottom=lowest_c - 2.0)
    axes.set_xlabel("job time (s after the job's start, device clock)")
    axes.set_ylabel("temperature (°C)")
    axes.set_title("die temperature during the job", fontsize=10)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    axes.grid(alpha=0.3)
