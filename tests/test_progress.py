"""JobProgress counts a job's events the way photonctl's bar and watch show them."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from photon_sdk import JobEvent, Schedule, ScheduledTask
from photon_sdk._progress import JobProgress, follow_job

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _plan(*tasks: tuple[str, float, float]) -> Schedule:
    scheduled = tuple(ScheduledTask(t, "wl0", start, end) for t, start, end in tasks)
    end_s = max(end for _, _, end in tasks)
    return Schedule(scheduled, end_s, 40.0, end_s, 0.0, "test", 0.0)


def _events() -> list[JobEvent]:
    seq = iter(range(1, 100))

    def event(kind: str, device_s: float, **fields: object) -> JobEvent:
        return JobEvent("job-1", next(seq), kind, device_s, NOW, **fields)  # type: ignore[arg-type]

    return [
        event("planned", 100.0, schedule=_plan(("a", 0, 2), ("b", 2, 4), ("c", 4, 6))),
        event("job_started", 110.0),
        event("task_started", 110.0, task_id="a", lane_id="wl0", job_time_s=0.0),
        event("task_finished", 112.0, task_id="a", lane_id="wl0", job_time_s=2.0),
        event("replanned", 112.5, reason="drift", schedule=_plan(("b", 2.5, 5), ("c", 5, 8))),
        event("task_started", 112.5, task_id="b", lane_id="wl0", job_time_s=2.5),
        event("held", 113.0, reason="emergency stop"),
    ]


def test_progress_counts_tasks_eta_and_replans() -> None:
    progress = JobProgress()
    for event in _events():
        progress.feed(event)
    assert (progress.done_tasks, progress.total_tasks) == (1, 3)
    assert progress.running_tasks == {"b"}
    assert progress.replans == 1
    assert progress.planned_end_s == 8.0  # the re-plan moved the end
    assert progress.job_time_s == 3.0  # 113 - 110 device seconds
    assert progress.eta_s == 5.0
    assert progress.summary() == (
        "1/3 tasks, 1 running, ETA 5.0 s (plan), 1 re-plan, HELD: emergency stop"
    )


def test_completed_job_counts_every_task_and_no_time_left() -> None:
    progress = JobProgress()
    events = _events()
    for event in events:
        progress.feed(event)
    progress.feed(JobEvent("job-1", 99, "completed", 120.0, NOW))
    assert progress.ended and progress.eta_s == 0.0
    assert progress.done_tasks == progress.total_tasks == 3


def test_follow_job_prints_lines_when_not_live() -> None:
    out = io.StringIO()
    follow_job(_events(), out, live=False)
    text = out.getvalue()
    assert text.startswith("planned: makespan 6.000 s")
    assert "start  a  on wl0" in text and "re-planned (drift)" in text and "held" in text


def test_follow_job_draws_a_bar_when_live() -> None:
    out = io.StringIO()
    follow_job([*_events(), JobEvent("job-1", 99, "completed", 120.0, NOW)], out, live=True)
    text = out.getvalue()
    assert "3/3" in text and "re-plans 1" in text and "completed" in text
    assert "start  a" not in text  # task lines are for pipes
