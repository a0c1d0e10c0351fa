"""A followed job's progress: tasks done of total, time left by the plan, re-plans.

:class:`JobProgress` is sans-I/O (it only reads :class:`~photon_sdk.JobEvent` values), so
``submit --wait``, ``job --follow`` and ``watch`` count the same way. :func:`follow_job`
draws it: a ``rich`` progress bar on a terminal, plain event lines anywhere else (a pipe, a
log file, a CI job), which keeps the output greppable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from ._cli_show import plan_summary, print_event
from ._table import num
from .types import JobEvent, Schedule

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["JobProgress", "follow_job"]


class JobProgress:
    """What a job's events so far say about how far it has got.

    ``planned_end_s`` is the job time (s after the job's start) at which the latest plan ends:
    the first plan's makespan, moved by every re-plan (a re-plan's schedule holds the tasks
    not yet started, in job time). ``job_time_s`` is the job time of the latest event, so
    ``eta_s`` is what the plan says is left when that event happened.
    """

    def __init__(self, job_id: str = "") -> None:
        self.job_id = job_id
        self.total_tasks = 0
        self.done_tasks = 0
        self.running_tasks: set[str] = set()
        self.replans = 0
        self.planned_end_s: float | None = None
        self.job_time_s = 0.0
        self.started_device_time_s: float | None = None
        self.last_kind = ""
        self.held_reason = ""
        self.ended = False

    def feed(self, event: JobEvent) -> None:
        """Account for one event of the job (in sequence order)."""
        self.job_id = event.job_id
        self.last_kind = event.kind
        if event.kind == "job_started":
            self.started_device_time_s = event.device_time_s
        elif self.started_device_time_s is not None:
            self.job_time_s = max(self.job_time_s, event.device_time_s - self.started_device_time_s)
        if event.job_time_s is not None:
            self.job_time_s = max(self.job_time_s, event.job_time_s)
        if event.kind == "planned" and event.schedule is not None:
            self.total_tasks = len(event.schedule.tasks)
            self.planned_end_s = _plan_end_s(event.schedule)
        elif event.kind == "replanned" and event.schedule is not None:
            self.replans += 1
            if event.schedule.tasks:
                self.planned_end_s = _plan_end_s(event.schedule)
        elif event.kind == "task_started":
            self.running_tasks.add(event.task_id)
        elif event.kind == "task_finished":
            self.running_tasks.discard(event.task_id)
            self.done_tasks += 1
        elif event.kind == "held":
            self.held_reason = event.reason or "held"
        elif event.kind == "resumed":
            self.held_reason = ""
            if event.after_restart and event.tasks_done is not None:
                self.done_tasks = event.tasks_done  # the finished tasks the restart kept
                self.running_tasks.clear()
        if event.is_terminal:
            self.ended = True
            self.running_tasks.clear()
            if event.kind == "completed":
                self.done_tasks = self.total_tasks or self.done_tasks

    @property
    def eta_s(self) -> float | None:
        """Job seconds the plan says are left (None before the job is planned)."""
        if self.planned_end_s is None:
            return None
        return 0.0 if self.ended else max(0.0, self.planned_end_s - self.job_time_s)

    def summary(self) -> str:
        """One line: tasks done of total, time left by the plan, re-plans, hold."""
        text = f"{self.done_tasks}/{self.total_tasks} tasks"
        if self.running_tasks:
            text += f", {len(self.running_tasks)} running"
        if self.eta_s is not None:
            text += f", ETA {num(self.eta_s, 1)} s (plan)"
        if self.replans:
            text += f", {self.replans} re-plan{'s' if self.replans != 1 else ''}"
        if self.held_reason:
            text += f", HELD: {self.held_reason}"
        return text


def _plan_end_s(schedule: Schedule) -> float:
    return max((t.end_s for t in schedule.tasks), default=schedule.makespan_s)


def follow_job(events: Iterable[JobEvent], out: TextIO, *, live: bool | None = None) -> None:
    """Show ``events`` until the terminal one: a progress bar on a terminal, else lines.

    ``live`` None decides by ``out.isatty()``. The bar counts tasks done of total, shows the
    time left by the latest plan and the re-plans; plans, re-plans, holds and resumes are also
    printed above it as lines, so the terminal keeps a record of them.
    """
    if live is None:
        live = out.isatty()
    if not live:
        for event in events:
            print_event(event, out)
            if event.is_terminal:
                return
        return
    _follow_with_bar(events, out)


def _follow_with_bar(events: Iterable[JobEvent], out: TextIO) -> None:
    # rich is imported only here: plain output and the SDK itself never load it.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(file=out)
    progress = JobProgress()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tasks  {task.fields[eta]}  {task.fields[replans]}"),
        console=console,
        transient=False,
    )
    with bar:
        task = bar.add_task("planning", total=None, eta="", replans="")
        for event in events:
            progress.feed(event)
            _print_notable(event, bar.console)
            eta = progress.eta_s
            bar.update(
                task,
                description=_phase(progress),
                total=progress.total_tasks or None,
                completed=progress.done_tasks,
                eta="" if eta is None else f"ETA {num(eta, 1)} s (plan)",
                replans=f"re-plans {progress.replans}" if progress.replans else "",
            )
            if event.is_terminal:
                break


def _phase(progress: JobProgress) -> str:
    if progress.ended:
        return progress.last_kind
    if progress.held_reason:
        return "held"
    return "running" if progress.started_device_time_s is not None else "queued"


def _print_notable(event: JobEvent, console: Console) -> None:
    """Print the events worth a line above the bar (not every task start and end)."""
    if event.kind == "planned" and event.schedule is not None:
        console.print(f"planned: {plan_summary(event.schedule)}", markup=False, highlight=False)
    elif event.kind == "replanned" and event.schedule is not None:
        line = f"re-planned ({event.reason}): {plan_summary(event.schedule)}"
        console.print(line, markup=False, highlight=False)
    elif event.kind == "held":
        console.print(f"held: {event.reason}", markup=False, highlight=False)
    elif event.kind == "resumed":
        console.print(f"resumed: {event.reason}".rstrip(": "), markup=False, highlight=False)
