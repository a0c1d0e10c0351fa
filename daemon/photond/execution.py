"""Carry out one job's plan on a device, one control-loop step at a time.

A task starts when its planned start time has come *and* its dependencies have actually
finished *and* its lane and heaters are free: the plan is a prediction, the device is the
truth, and a task that ran late must not let its successors start early. Heater powers are
re-applied as a complete set whenever a task starts or ends. The job's peak temperature and
energy come from the same sensor samples the telemetry stream carries, so a client can check
one against the other.
"""

from __future__ import annotations

import math

from photon.v1 import job_pb2
from photon_drivers.interface import Driver, SensorSample

from .jobs import JobBook, JobRecord
from .planner import PlannedTask
from .validation import CheckedTask


class Execution:
    """The running state of one job on one device."""

    def __init__(self, record: JobRecord, driver: Driver, book: JobBook, start_s: float) -> None:
        assert record.graph is not None and record.plan is not None
        self.record = record
        self._driver = driver
        self._book = book
        self._tasks: dict[str, CheckedTask] = record.graph.by_id()
        self._pending: list[PlannedTask] = sorted(record.plan.tasks, key=lambda p: p.start_s)
        self._running: dict[str, tuple[PlannedTask, float]] = {}
        self._finished: dict[str, tuple[str, float, float]] = {}
        self.start_s = start_s
        self._last_step_s = start_s
        self._power_mw = 0.0
        self.energy_mj = 0.0
        self.peak_temperature_c = -math.inf
        book.start(record, start_s)

    @property
    def running_task_ids(self) -> tuple[str, ...]:
        return tuple(self._running)

    @property
    def power_mw(self) -> float:
        """Total heater power the job applies now."""
        return self._power_mw

    @property
    def done(self) -> bool:
        return not self._pending and not self._running

    def step(self, now_s: float, sample: SensorSample) -> None:
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
            changed = self._finish_due(now_s) | self._start_due(now_s)
            any_change |= changed
        if any_change:
            self._apply_powers()

    def next_event_s(self, now_s: float) -> float:
        """Device time of the next planned start or end after now (inf when none).

        A task whose planned start has passed but which waits for a lane, a heater or a late
        dependency needs no wake-up of its own: it can only become startable when a running
        task ends, and that end is an event.
        """
        times = [
            next(
                (
                    self.start_s + p.start_s
                    for p in self._pending
                    if self.start_s + p.start_s > now_s
                ),
                math.inf,
            )
        ]
        times += [start + self._tasks[p.task_id].duration_s for p, start in self._running.values()]
        return min(times, default=math.inf)

    def stop(self, now_s: float) -> None:
        """Stop every running task now (cancel, failure or shutdown); heaters go off."""
        self.energy_mj += self._power_mw * (now_s - self._last_step_s)
        self._last_step_s = now_s
        for planned, started_s in list(self._running.values()):
            self._finished[planned.task_id] = (planned.lane_id, started_s, now_s)
            self._book.task_finished(self.record, now_s, planned.task_id, planned.lane_id)
        self._running.clear()
        self._power_mw = 0.0

    def result(self, now_s: float) -> job_pb2.JobResult:
        ran = sorted(self._finished.items(), key=lambda item: (item[1][1], item[0]))
        return job_pb2.JobResult(
            tasks=[
                job_pb2.ScheduledTask(
                    task_id=task_id,
                    lane_id=lane_id,
                    start_s=start_s - self.start_s,
                    end_s=end_s - self.start_s,
                )
                for task_id, (lane_id, start_s, end_s) in ran
            ],
            makespan_s=max((end for _, _, end in self._finished.values()), default=self.start_s)
            - self.start_s,
            peak_temperature_c=self.peak_temperature_c
            if self.peak_temperature_c > -math.inf
            else 0.0,
            energy_mj=self.energy_mj,
        )

    def _finish_due(self, now_s: float) -> bool:
        due = [
            (planned, started_s)
            for planned, started_s in self._running.values()
            if started_s + self._tasks[planned.task_id].duration_s <= now_s
        ]
        for planned, started_s in due:
            del self._running[planned.task_id]
            self._finished[planned.task_id] = (planned.lane_id, started_s, now_s)
            self._book.task_finished(self.record, now_s, planned.task_id, planned.lane_id)
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
            self._book.task_started(self.record, now_s, planned.task_id, planned.lane_id)
        for planned in started:
            self._pending.remove(planned)
        return bool(started)

    def _apply_powers(self) -> None:
        powers: dict[str, float] = {}
        for planned, _ in self._running.values():
            for heater, power_mw in self._tasks[planned.task_id].heater_power_mw.items():
                powers[heater] = powers.get(heater, 0.0) + power_mw
        self._driver.set_heater_powers(powers)
        self._power_mw = sum(powers.values())
