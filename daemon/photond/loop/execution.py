"""Carry out one job's plan on a device, one control-loop step at a time.

A task starts when its planned start time has come *and* its dependencies have actually
finished *and* its lane and heaters are free: the plan is a prediction, the device is the
truth, and a task that ran late must not let its successors start early. Heater powers are
re-applied as a complete set whenever a task starts or ends. The job's peak temperature and
energy come from the same sensor samples the telemetry stream carries, so a client can check
one against the other.

The device loop calls `step` once per control period, so tasks start and end on the loop's
period grid and heater powers are constant between samples (what the observer's zero-order
hold assumes). The closed loop may swap in a new plan for the tasks not yet started
(`swap_plan`), hold the job (`hold`: running tasks are cut off and go back to pending, to run
again from their start) and forbid starts for a while (`step(..., may_start=False)`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from photon.v1 import job_pb2
from photon_drivers.interface import Driver, SensorSample
from photond.jobs.book import JobBook, JobRecord
from photond.planning.graph import CheckedTask
from photond.planning.plan import PlannedTask
from photond.planning.sharded_map import ShardedMap
from photond.wire import job_result

# By task id, the checked tasks; the planned tasks sorted by start.
ExecutionTables = tuple[Mapping[str, CheckedTask], list[PlannedTask]]


def execution_tables(record: JobRecord) -> ExecutionTables:
    """The job's tasks by id and its plan by start; a job resumed after a restart leaves out
    the tasks it had finished (`JobRecord.resumption`)."""
    assert record.graph is not None and record.plan is not None
    planned = record.plan.tasks
    if record.resumption is not None:
        done = {p.task_id for p in record.resumption.done}
        planned = tuple(p for p in planned if p.task_id not in done)
    # Sharded, not a dict: see `photond.planning.sharded_map`.
    tasks = ShardedMap((task.id, task) for task in record.graph.tasks)
    return tasks, sorted(planned, key=lambda p: p.start_s)


def followed(pending: Sequence[PlannedTask], planned: Sequence[PlannedTask]) -> list[PlannedTask]:
    """`pending` with each task that `planned` names taken from `planned` (the others as they
    were), in planned order (start, then id): the tasks not yet started after a swap."""
    waiting = {p.task_id for p in pending}
    fresh = {p.task_id: p for p in planned if p.task_id in waiting}
    return sorted((fresh.get(p.task_id, p) for p in pending), key=lambda p: (p.start_s, p.task_id))


@dataclass(frozen=True)
class PreparedSwap:
    """A swap of plans worked out off the loop thread: `pending` is what the tasks not yet
    started become, valid while the execution's pending list is still `basis`, unchanged
    (`size` long: a task started takes one out in place)."""

    basis: list[PlannedTask]
    size: int
    pending: list[PlannedTask]

    def of(self, planned: Sequence[PlannedTask]) -> PreparedSwap:
        """The swap to `planned`, worked out from this basis (on any thread)."""
        return PreparedSwap(self.basis, self.size, followed(self.pending, planned))


class Execution:
    """The running state of one job on one device."""

    def __init__(
        self,
        record: JobRecord,
        driver: Driver,
        book: JobBook,
        start_s: float,
        tables: ExecutionTables | None = None,
    ) -> None:
        """`start_s`: the device time the job starts (or resumes) at. `tables`: the job's
        `execution_tables`, built ahead off the loop thread (for a 100k-task job they take
        ~90 ms); built here when not given.

        A job resumed after a restart (`record.resumption`) goes on from where its journaled
        task events stopped: its job-relative time `elapsed_s` falls at `start_s` (so
        `self.start_s` lies that much earlier), the tasks it had finished count as finished
        (for dependencies and the result) and their energy as spent. The book is not told
        here: the runtime records the resumption once the job's re-plan stands.
        """
        self.record = record
        self._driver = driver
        self._book = book
        self._tasks, self._pending = tables or execution_tables(record)
        self._running: dict[str, tuple[PlannedTask, float]] = {}
        # Task id -> (lane, device start, device end).
        self._finished: dict[str, tuple[str, float, float]] = {}
        self.start_s = start_s
        self._last_step_s = start_s
        self._power_mw = 0.0
        self._powers_mw: dict[str, float] = {}
        self._news: list[tuple[Callable[[JobRecord, float, str, str], None], PlannedTask]] = []
        self.energy_mj = 0.0
        self.peak_temperature_c = -math.inf
        resumption = record.resumption
        if resumption is None:
            book.start(record, start_s)
            return
        self.start_s = start_s - resumption.elapsed_s
        for done in resumption.done:
            self._finished[done.task_id] = (
                done.lane_id,
                self.start_s + done.start_s,
                self.start_s + done.end_s,
            )
            # A task's heaters hold constant powers while it runs: exact, as it ran.
            power_mw = sum(self._tasks[done.task_id].heater_power_mw.values())
            self.energy_mj += power_mw * (done.end_s - done.start_s)

    @property
    def running_task_ids(self) -> tuple[str, ...]:
        return tuple(self._running)

    @property
    def finished_count(self) -> int:
        """Tasks finished so far (those a resumed job had finished before included)."""
        return len(self._finished)

    @property
    def power_mw(self) -> float:
        """Total heater power the job applies now."""
        return self._power_mw

    @property
    def done(self) -> bool:
        return not self._pending and not self._running

    @property
    def heater_powers_mw(self) -> dict[str, float]:
        """The powers the job applies now, by heater (heaters at zero left out)."""
        return dict(self._powers_mw)

    @property
    def pending(self) -> tuple[PlannedTask, ...]:
        """Tasks not yet started, in planned order."""
        return tuple(self._pending)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def pending_before(self, start_s: float) -> list[PlannedTask]:
        """Tasks not yet started whose planned start (job-relative) is before `start_s`."""
        end = bisect.bisect_left(self._pending, start_s, key=lambda p: p.start_s)
        return self._pending[:end]

    @property
    def running(self) -> tuple[tuple[PlannedTask, float], ...]:
        """(planned task, device start time) of every running task."""
        return tuple(self._running.values())

    @property
    def tasks(self) -> Mapping[str, CheckedTask]:
        return self._tasks

    def swap_plan(
        self, planned: tuple[PlannedTask, ...], prepared: PreparedSwap | None = None
    ) -> None:
        """Follow `planned` (job-relative times) for the tasks not yet started.

        Tasks of `planned` that started meanwhile are ignored; pending tasks it does not name
        keep their old entry. Called from the loop thread between steps, so it is atomic with
        respect to dispatch. `prepared`: the same worked out off the loop thread from a
        `pending_basis()` (for 100k tasks 0.1-0.2 s of Python), taken as it is when no task
        started or was held back since; otherwise the swap is worked out here.
        """
        pending = self._pending
        if prepared is not None and prepared.basis is pending and len(pending) == prepared.size:
            self._pending = prepared.pending
            return
        self._pending = followed(self._pending, planned)

    def pending_basis(self) -> PreparedSwap:
        """What a swap may be prepared from off the loop thread (`PreparedSwap.of`): the tasks
        not yet started now, as the list the loop replaces (it does not change in place while
        no task starts)."""
        return PreparedSwap(self._pending, len(self._pending), list(self._pending))

    def hold(self, now_s: float) -> None:
        """Cut off every running task (it goes back to pending) and drop the heater powers.

        The caller parks the device; this only keeps the books: a task cut off mid-run did not
        produce its result, so it runs again from its start when the job resumes.
        """
        self.energy_mj += self._power_mw * (now_s - self._last_step_s)
        self._last_step_s = now_s
        self._pending = sorted(
            [*self._pending, *(planned for planned, _ in self._running.values())],
            key=lambda p: (p.start_s, p.task_id),
        )
        self._running.clear()
        self._powers_mw = {}
        self._power_mw = 0.0

    def step(self, now_s: float, sample: SensorSample, may_start: bool = True) -> None:
        """Account for the interval just past, then finish and start what is due now."""
        self.energy_mj += self._power_mw * (now_s - self._last_step_s)
        self._last_step_s = now_s
        readings = [t for t in sample.temperature_c if not math.isnan(t)]
        if readings:
            self.peak_temperature_c = max(self.peak_temperature_c, max(readings))
        changed = True
        any_change = False
        # Milestones and back-to-back tasks can cascade within one instant; settle them all.
        while changed:
            changed = self._finish_due(now_s) | (may_start and self._start_due(now_s))
            any_change |= changed
        if any_change:
            self._apply_powers()
        # Told after the device has the new powers, so a watcher never sees a start early.
        for event, planned in self._news:
            event(self.record, now_s, planned.task_id, planned.lane_id)
        self._news.clear()

    def stop(self, now_s: float) -> None:
        """Stop every running task now (cancel, failure or shutdown); heaters go off."""
        self.energy_mj += self._power_mw * (now_s - self._last_step_s)
        self._last_step_s = now_s
        for planned, started_s in list(self._running.values()):
            self._finished[planned.task_id] = (planned.lane_id, started_s, now_s)
            self._book.task_finished(self.record, now_s, planned.task_id, planned.lane_id)
        self._running.clear()
        self._powers_mw = {}
        self._power_mw = 0.0

    def result(self, now_s: float) -> job_pb2.JobResult:
        """What ran, job-relative, in start order: the job's result as the book records it.

        For a job resumed after a restart, the tasks are those that finished before it (as
        journaled) and after it; job time stops from the last journaled task event before the
        restart to the resume (the device clock restarts with photond, so that gap cannot be
        measured on it), so the makespan is the job's running time without the outage. A task
        cut off by the restart appears once, as it ran again. The energy is that of the
        finished tasks before the restart plus what was measured since (the cut-off runs'
        energy is not known); the peak temperature is the highest reading since the resume
        (earlier readings are not journaled).
        """
        ran = sorted(self._finished.items(), key=lambda item: (item[1][1], item[0]))
        return job_result(
            [
                PlannedTask(task_id, lane_id, start_s - self.start_s, end_s - self.start_s)
                for task_id, (lane_id, start_s, end_s) in ran
            ],
            makespan_s=max((end for _, _, end in self._finished.values()), default=self.start_s)
            - self.start_s,
            peak_temperature_c=self.peak_temperature_c
            if self.peak_temperature_c > -math.inf
            else 0.0,
            energy_mj=self.energy_mj,
        )

    def let_go(
        self,
    ) -> tuple[Mapping[str, CheckedTask], list[PlannedTask], dict[str, tuple[str, float, float]]]:
        """Hand over the job's tables (its tasks by id, those not yet started, those finished)
        and keep empty ones: for `photond.disposal`, once the job has ended and its result is
        built. Dropped with the execution instead, a 100k-task job's were freed all at once."""
        tables = (self._tasks, self._pending, self._finished)
        self._tasks, self._pending, self._finished = {}, [], {}
        return tables

    def _finish_due(self, now_s: float) -> bool:
        due = [
            (planned, started_s)
            for planned, started_s in self._running.values()
            if started_s + self._tasks[planned.task_id].duration_s <= now_s
        ]
        for planned, started_s in due:
            del self._running[planned.task_id]
            self._finished[planned.task_id] = (planned.lane_id, started_s, now_s)
            self._news.append((self._book.task_finished, planned))
        return bool(due)

    def _start_due(self, now_s: float) -> bool:
        busy_lanes = {planned.lane_id for planned, _ in self._running.values()}
        busy_heaters = {
            heater
            for planned, _ in self._running.values()
            for heater in self._tasks[planned.task_id].heater_power_mw
        }
        started = []
        for planned in self._pending:
            if self.start_s + planned.start_s > now_s:
                break  # pending is sorted by planned start
            task = self._tasks[planned.task_id]
            if (
                planned.lane_id in busy_lanes
                or any(dep not in self._finished for dep in task.depends_on)
                or not busy_heaters.isdisjoint(task.heater_power_mw)
            ):
                continue
            busy_lanes.add(planned.lane_id)
            busy_heaters.update(task.heater_power_mw)
            started.append(planned)
            self._running[planned.task_id] = (planned, now_s)
            self._news.append((self._book.task_started, planned))
        for planned in started:
            self._pending.remove(planned)
        return bool(started)

    def _apply_powers(self) -> None:
        powers: dict[str, float] = {}
        for planned, _ in self._running.values():
            for heater, power_mw in self._tasks[planned.task_id].heater_power_mw.items():
                powers[heater] = powers.get(heater, 0.0) + power_mw
        self._driver.set_heater_powers(powers)
        self._powers_mw = powers
        self._power_mw = sum(powers.values())
