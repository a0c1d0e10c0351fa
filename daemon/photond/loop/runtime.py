"""The device loop: one thread per device that samples, dispatches and never waits on a client.

The loop runs on a fixed grid of control periods (`control_period_s`, default 10 ms). Each pass
reads every sensor, hands the sample to the closed loop (`control`: observer, forecast,
re-plan), checks the interlock (`interlock`), publishes the sample to telemetry and advances
the running job (finishing and starting tasks that are due), then sleeps to the next period.
Dispatch on the grid keeps heater powers constant between samples, which is what the observer's
model assumes. Why 10 ms: on the default chip the package mode has τ ≈ 8.5 s and the die's
slowest lateral modes τ ≈ 10-26 ms (docs/thermal-model.md); a 10 ms period samples those
several times per time constant, while everything faster (≤ 5 ms) has settled within a period
and is exact in the model's feedthrough. A pass that overruns skips the periods it missed (the
observer advances by as many) rather than bunching samples.

Heartbeat: every pass ends by replacing `heartbeat` (monotonic wall time, pass counter). It is
fed by the loop itself, not by a timer, so a systemd watchdog that checks its age detects a
stuck loop.

Jobs run one at a time per device, in submission order. A job's end (its result, every task as
it ran) is built and recorded by a finisher thread: for a 100k-task job that took the loop
thread 0.6-0.8 s. On any error toward the device the
loop's last act is the safe state; the job fails with the reason and the loop keeps running.
While the interlock or an emergency stop holds the device (see `interlock`), the running job is
held, nothing is dispatched and no queued job starts.

A circuit breaker (photon_drivers.breaker) counts failed passes. While it is open the loop
neither samples nor dispatches; it only re-sends the safe state until one is confirmed.
Half-open, it probes with a ping followed by the safe state, so that the device is parked
before any dispatch resumes. A job whose device failed is not resumed: its tasks were cut off
mid-run and the heaters went off, so its thermal plan no longer describes the device. Queued
jobs wait and start once the breaker has closed.

A job photond was running when it stopped, queued again at start-up to be resumed
(`JobRecord.resumption`, the setting `running_jobs_on_restart = "resume"`), starts like any
job but with a re-plan of its unfinished tasks from the estimate at that moment, on the closed
loop's worker thread (`ClosedLoop.start_resume`; no task starts until it lands); if that fails
the job fails with the reason, and the loop takes the next job.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from photon.v1 import job_pb2
from photon_drivers.breaker import BreakerConfig, BreakerState, CircuitBreaker
from photon_drivers.interface import Driver, SensorSample
from photon_drivers.profile import LimitsSpec
from photond import disposal, heap
from photond.disposal import dispose
from photond.jobs.book import JobBook, JobRecord
from photond.loop.closed_loop import ClosedLoop, ResumeRefused
from photond.loop.control_config import ControlConfig
from photond.loop.execution import Execution, ExecutionTables, execution_tables
from photond.loop.frame import Frame, JobProgress, SensorCondition
from photond.loop.health import Health, device_health
from photond.loop.interlock import Interlock
from photond.loop.telemetry import TelemetryConfig, TelemetryHub
from photond.metrics import instruments
from photond.thread_names import name_this_thread

log = logging.getLogger("photond.loop.runtime")

# Wall seconds between passes while the breaker is open (and between safe-state retries).
_OPEN_POLL_S = 0.05
# Per pass, the lateness health remembers decays by this factor (so it sees recent peaks).
_LATENESS_DECAY = 0.99
# Passes whose lateness is recorded into the metric at once: one OpenTelemetry record is ~5 us
# in a burst but ~70 us alone after the loop slept a period (cold caches), which was the
# largest single part of an idle pass. The metric lags by at most this many periods.
LATENESS_BATCH = 100


@dataclass(frozen=True)
class Heartbeat:
    """The loop's last pass: `time.monotonic()` when it ended, and how many passes so far."""

    monotonic_s: float
    passes: int


class DeviceRuntime:
    """Owns one driver: its loop thread, its job queue and its telemetry."""

    def __init__(
        self,
        device_id: str,
        driver: Driver,
        book: JobBook,
        period_s: float,
        breaker: BreakerConfig | None = None,
        control: ControlConfig | None = None,
        telemetry: TelemetryConfig | None = None,
    ) -> None:
        self.device_id = device_id
        self.driver = driver
        self.period_s = period_s
        self.hub = TelemetryHub(len(driver.profile.sensors), period_s, telemetry)
        self._book = book
        self._queue: deque[JobRecord] = deque()
        # Queued jobs' execution tables, built by `enqueue` (off the loop thread), by job id.
        self._tables: dict[str, ExecutionTables] = {}
        self._queue_lock = threading.Lock()
        self._execution: Execution | None = None
        # While the running job, resumed after a restart, waits for its re-plan: the device
        # time the loop took it up (its `resumed` event's), else None.
        self._resuming: float | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"device-{device_id}", daemon=True)
        # Records the end of each job (`_end`): its result lists every task as it ran, which for
        # a 100k-task job took the loop thread 0.6-0.8 s to build and record.
        self._finisher = ThreadPoolExecutor(1, thread_name_prefix=f"device-{device_id}-end")
        self.last_error = ""
        self.breaker = CircuitBreaker(breaker, on_change=self._breaker_changed)
        self._safe_state_pending = False
        # Told (serving, reason) from the loop thread whenever `serving` flips.
        self.on_serving_change: Callable[[bool, str], None] | None = None
        self._reported_serving = True
        profile = driver.profile
        self.control = ClosedLoop(
            profile, period_s, book, control or ControlConfig(), device_id=device_id
        )
        self.interlock = Interlock(profile.limits, [s.id for s in profile.sensors])
        self._limits = profile.limits
        self.heartbeat = Heartbeat(time.monotonic(), 0)
        self._origin_s = driver.clock.now_s()
        self._last_sample_s: float | None = None
        self._applied_mw = np.zeros(len(self.control.heater_ids))
        self._held_since_s: float | None = None
        # Telemetry's view of a pass: zone power is this matrix times the applied powers.
        heater_index = {h: i for i, h in enumerate(self.control.heater_ids)}
        self._zone_matrix = np.zeros((len(profile.zones), len(heater_index)))
        for z, zone in enumerate(profile.zones):
            for heater_id in zone.heater_ids:
                self._zone_matrix[z, heater_index[heater_id]] = 1.0
        self._zone_power_of: np.ndarray | None = None  # the powers `_zone_power` sums
        self._zone_power: tuple[float, ...] = ()
        self._sensor_ids = tuple(s.id for s in profile.sensors)
        self._peak_lateness_s = 0.0
        self._replans_at_start = 0
        # Device seconds the estimated hottest point spent above max temperature (the metric
        # photon_device_time_above_limit_seconds_total reads it).
        self.time_above_limit_s = 0.0
        # Joules the heaters were commanded to draw, over device time (the metric
        # photon_device_heater_energy_joules_total; the DCGM exporter's total energy).
        self.heater_energy_j = 0.0
        self._metric_attributes = {"device": device_id}

    # -- called from RPC handlers ---------------------------------------------------------------

    def enqueue(self, record: JobRecord) -> None:
        """Queue a job. Called from a submission's worker thread: what the job's start would
        otherwise build on the loop thread is built here first."""
        self.control.prepare(record)
        # A dict and a list of every task: young, a 100k-task job's cost the next collection
        # of the youngest generation 15 ms (and the older ones as much again), interpreter held.
        with heap.building():
            tables = execution_tables(record)
        if record.trace is not None:
            record.trace.queued()
        with self._queue_lock:
            self._tables[record.id] = tables
            self._queue.append(record)
        self._wake.set()

    def cancel(self, record: JobRecord) -> None:
        """Cancel a queued job at once, or ask the loop to stop a running one."""
        if self._take_queued(record):
            self._book.cancel(record, self.driver.clock.now_s())
            return
        record.cancel_requested.set()
        self._wake.set()

    def _take_queued(self, record: JobRecord) -> bool:
        """Take `record` out of the queue; False when it is not there (started, or gone).

        The book's journal write that follows happens after, outside the queue's lock: the
        loop takes that lock every pass to look for a job, and must not wait on a disk.
        """
        with self._queue_lock:
            if record not in self._queue:
                return False
            self._queue.remove(record)
            tables = self._tables.pop(record.id, None)
        dispose(*(tables or ()))
        del tables
        self.control.forget(record)
        return True

    def queued_records(self) -> list[JobRecord]:
        """The queued jobs, in order (a copy)."""
        with self._queue_lock:
            return list(self._queue)

    def fail_queued(self, record: JobRecord, reason: str) -> bool:
        """Fail a queued job without running it (UpdateLimits: it no longer fits the limits);
        False when it has left the queue meanwhile (started or cancelled)."""
        if not self._take_queued(record):
            return False
        self._book.fail(record, self.driver.clock.now_s(), reason)
        return True

    @property
    def queued_jobs(self) -> int:
        with self._queue_lock:
            return len(self._queue)

    @property
    def heater_powers_mw(self) -> np.ndarray:
        """The power commanded to each heater now (`control.heater_ids` order), mW. A new
        array replaces it at each change, so another thread may read it without a lock."""
        return self._applied_mw

    @property
    def active(self) -> tuple[str, tuple[str, ...]]:
        """(job id, running task ids) of the job now executing; ("", ()) when idle."""
        execution = self._execution
        if execution is None:
            return "", ()
        return execution.record.id, execution.running_task_ids

    @property
    def limits(self) -> LimitsSpec:
        """The operating limits in force: the profile's, or what UpdateLimits set."""
        return self._limits

    def update_limits(self, limits: LimitsSpec) -> None:
        """Hold plans and the interlock to `limits` from the next control period on (the
        UpdateLimits RPC; `photond.rpc.limits` checks them against the profile first). The
        running job is forecast again at once and re-planned if it no longer keeps them; a
        queued job is forecast when it starts, as every job is."""
        self._limits = limits
        self.interlock.set_limits(limits)
        self.control.set_limits(limits)
        self._wake.set()

    def emergency_stop(self, reason: str) -> None:
        """Park the device now and hold its job until `resume()` (the EmergencyStop RPC).

        The safe state is sent from the caller's thread at once; the loop holds the job within
        the same control period.
        """
        self.interlock.emergency = reason or "no reason given"
        try:
            self.driver.safe_state()
        except Exception:
            log.exception("emergency stop: safe state failed", extra={"device": self.device_id})
        self._wake.set()

    def resume(self) -> None:
        """Leave an emergency stop; the job resumes once the interlock is clear as well."""
        self.interlock.emergency = None

    @property
    def serving(self) -> tuple[bool, str]:
        """(True, "") when jobs can be dispatched; else (False, why)."""
        holding = self.interlock.holding
        if holding:
            return False, holding
        state = self.breaker.state
        if state is not BreakerState.CLOSED:
            return False, f"circuit breaker {state.value}: {self.last_error or 'probing'}"
        if self.last_error:
            return False, self.last_error
        return True, ""

    def unreachable(self, reason: str) -> None:
        """Before `start`: the device could not be reached when it was opened. Its breaker
        opens now, so photond starts and the breaker's probes find the device when it comes."""
        self.last_error = f"unreachable at start-up: {reason}"
        self.breaker.trip()

    def start(self) -> None:
        disposal.start()  # its thread made now, not amid a burst of large jobs' objects
        self._step()  # a first sample before we report ready, so state and telemetry have data
        self._report_serving()
        self._finisher.submit(int).result()  # its thread started here, not by the loop
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop, then park: heaters off, a running job failed with the reason."""
        self._stopping.set()
        self._wake.set()
        if self._thread.ident is not None:  # a start-up that failed never started the loop
            self._thread.join()
        self._finisher.shutdown(wait=True)  # every job's end recorded before the journal closes
        self.control.close()
        now_s = self.driver.clock.now_s()
        execution, self._execution = self._execution, None
        if execution is not None:
            execution.stop(now_s)
            self.control.ended(execution)
            self._book.fail(
                execution.record,
                now_s,
                "photond shut down while the job ran; the device was parked in its safe state",
                execution.result(now_s),
            )
        self.driver.close()

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        name_this_thread(self._thread.name)
        clock = self.driver.clock
        period = 0
        passes = 0
        latenesses: list[float] = []
        while not self._stopping.is_set():
            now_s = self._step()
            passes += 1
            self.heartbeat = Heartbeat(time.monotonic(), passes)
            self._report_serving()
            period = max(period + 1, math.floor((now_s - self._origin_s) / self.period_s) + 1)
            tick_s = self._origin_s + period * self.period_s
            while not self._stopping.is_set() and clock.now_s() < tick_s:
                clock.sleep_until(tick_s, self._wake)
                if self._wake.is_set():
                    self._wake.clear()
                    self._hold_if_stopped(clock.now_s())
            lateness_s = max(0.0, clock.now_s() - tick_s)
            self.control.stats.jitter_s.append(lateness_s)
            latenesses.append(lateness_s)
            if len(latenesses) >= LATENESS_BATCH or self._stopping.is_set():
                for value_s in latenesses:
                    instruments.loop_lateness.record(value_s, self._metric_attributes)
                latenesses.clear()

    def _step(self) -> float:
        now_s = self.driver.clock.now_s()
        if not self.breaker.allow_request():
            self._retry_safe_state()
            return now_s
        if self.breaker.state is BreakerState.HALF_OPEN:
            self._probe()
            return now_s
        try:
            sample = self.driver.read_sensors()
            now_s = sample.device_time_s
            self._observe(sample)
            self.hub.publish(self._frame(sample))
            if self._guard(now_s, sample):
                self._dispatch(now_s, sample)
            self.last_error = ""
            self.breaker.record_success()
        except Exception as exc:  # any failure toward the device: park it, fail the job, go on
            log.exception("device loop step failed", extra={"device": self.device_id})
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.breaker.record_failure()
            self._park_after_error(now_s)
        return now_s

    def _frame(self, sample: SensorSample) -> Frame:
        """What telemetry shows of this pass: readings, powers (held since the last pass), the
        estimate, the job's progress and the device's health."""
        estimate = self.control.estimate
        conditions: list[SensorCondition] = []
        failed: list[int] = []
        # The usual pass has nothing to say of any sensor: no distrust, and a finite sum (so
        # no reading that is not a number).
        quiet = not estimate.distrusted and math.isfinite(sum(sample.temperature_c))
        for i, value in enumerate(() if quiet else sample.temperature_c):
            sensor_id = self._sensor_ids[i]
            why = estimate.distrusted.get(sensor_id)
            if math.isnan(value):
                failed.append(i)
                conditions.append((i, sensor_id, "failed", why or "no reading (not a number)"))
            elif why is not None:
                conditions.append((i, sensor_id, "distrusted", why))
        execution = self._execution
        job = None
        if execution is not None:
            job = JobProgress(
                execution.record.id,
                execution.finished_count,
                len(execution.tasks),
                self.control.stats.replans - self._replans_at_start,
                self.control.predicted_peak_c(execution),
            )
        lateness_s = self.control.stats.jitter_s.latest_s
        self._peak_lateness_s = max(lateness_s, self._peak_lateness_s * _LATENESS_DECAY)
        return Frame(
            device_time_s=sample.device_time_s,
            wall_time_s=time.time(),
            temperature_c=sample.temperature_c,
            total_heater_power_mw=self._execution_power(),
            zone_power_mw=self._zone_power_mw(),
            estimated_heater_temperature_c=tuple(estimate.hotspot_estimate_c.tolist()),
            sensor_status=tuple(conditions),
            job=job,
            health=self._health(failed, estimate.distrusted, estimate.hottest_c),
            loop_lateness_s=lateness_s,
        )

    def _zone_power_mw(self) -> tuple[float, ...]:
        """Power per zone: summed again only when the powers change (a new array each time)."""
        applied = self._applied_mw
        if applied is not self._zone_power_of:
            self._zone_power_of = applied
            self._zone_power = tuple((self._zone_matrix @ applied).tolist())
        return self._zone_power

    def _health(self, failed: list[int], distrusted: dict[str, str], hottest_c: float) -> Health:
        return device_health(
            sensor_ids=self._sensor_ids,
            failed=failed,
            distrusted=distrusted,
            breaker_state=self.breaker.state.value,
            interlock=self.interlock.tripped.reason if self.interlock.tripped else "",
            hottest_c=hottest_c,
            max_c=self.control.max_c,
            lateness_s=self._peak_lateness_s,
            period_s=self.period_s,
        )

    def health(self) -> Health:
        """The device's health now: the last frame's; while the breaker is not closed (no
        frames are taken) from the estimate and the breaker now."""
        frame = self.hub.latest
        if self.breaker.state is not BreakerState.CLOSED or frame is None:
            estimate = self.control.estimate
            return self._health([], estimate.distrusted, estimate.hottest_c)
        return frame.health

    def _observe(self, sample: SensorSample) -> None:
        """Fold the sample into the estimate, with the powers held since the last one."""
        now_s = sample.device_time_s
        last = self._last_sample_s
        periods = 1 if last is None else max(1, round((now_s - last) / self.period_s))
        self._last_sample_s = now_s
        estimate = self.control.observe(sample, self._applied_mw, periods)
        if last is not None:
            # The powers held since the last sample, as the observer assumed them.
            self.heater_energy_j += float(self._applied_mw.sum()) * 1e-3 * (now_s - last)
            if estimate.hottest_c > self.control.max_c:
                self.time_above_limit_s += now_s - last

    def _guard(self, now_s: float, sample: SensorSample) -> bool:
        """Apply the interlock; True when dispatch may go on this period."""
        change = self.interlock.check(sample.temperature_c, self.control.estimate)
        if change is True:
            log.warning(self.interlock.holding, extra={"device": self.device_id})
        holding = self.interlock.holding
        execution = self._execution
        if holding:
            self._hold_if_stopped(now_s)
            if execution is not None and execution.record.cancel_requested.is_set():
                self._held_since_s = None
                self._end(execution, now_s, cancelled=True)
            elif execution is not None and self._held_since_s is not None:
                timeout_s = self.control.config.hold_timeout_s
                if now_s - self._held_since_s > timeout_s:
                    self._execution = None
                    self._resuming = None
                    self._held_since_s = None
                    self.control.ended(execution)
                    self._book.fail(
                        execution.record,
                        now_s,
                        f"held for more than {timeout_s:g} s: {holding}",
                        execution.result(now_s),
                    )
            return False
        if execution is not None and self._held_since_s is not None:
            self._held_since_s = None
            reason = "the interlock cleared and no emergency stop is active"
            self._book.resumed(execution.record, now_s, reason)
            # A job resumed after a restart whose re-plan is under way gets that one.
            if self.control.config.mode == "closed" and self._resuming is None:
                self.control.replan(
                    execution, now_s, f"resumed after a hold: {reason}", "hold_cleared"
                )
        return True

    def _hold_if_stopped(self, now_s: float) -> None:
        """While held: keep the device parked and the running job held (once)."""
        if not self.interlock.holding:
            return
        self.driver.safe_state()
        self._applied_mw = np.zeros_like(self._applied_mw)
        execution = self._execution
        if execution is not None and self._held_since_s is None:
            self._held_since_s = now_s
            execution.hold(now_s)
            self._book.held(execution.record, now_s, self.interlock.holding)

    def _dispatch(self, now_s: float, sample: SensorSample) -> None:
        execution = self._execution
        if execution is None:
            execution = self._next_execution(now_s)
        if execution is None:
            return
        if execution.record.cancel_requested.is_set():
            self._end(execution, now_s, cancelled=True)
            return
        if self._resuming is not None and not self._resumed(execution, now_s):
            return
        may_start = self.control.may_start(execution, now_s, sample)
        execution.step(now_s, sample, may_start)
        self._applied_mw = self.control.applied_vector(execution.heater_powers_mw)
        if execution.done:
            self._end(execution, now_s)

    def _retry_safe_state(self) -> None:
        """Breaker open: touch the device only to re-send a safe state that was not confirmed."""
        if self._safe_state_pending:
            try:
                self.driver.safe_state()
                self._safe_state_pending = False
                log.info("safe state confirmed", extra={"device": self.device_id})
            except Exception as exc:
                log.debug("safe state retry failed", extra={"device": self.device_id, "error": exc})
        self._stopping.wait(_OPEN_POLL_S)

    def _probe(self) -> None:
        """Breaker half-open: ping, then park (the device may have restarted), then report."""
        try:
            self.driver.ping()
            self.driver.safe_state()
        except Exception as exc:
            self.last_error = f"probe failed: {type(exc).__name__}: {exc}"
            self.breaker.record_failure()
            self._safe_state_pending = True
            return
        self._safe_state_pending = False
        self.breaker.record_success()
        if self.breaker.state is BreakerState.CLOSED:
            self.last_error = ""

    def _breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        extra = {"device": self.device_id, "old": old.value, "new": new.value}
        log.log(level, "circuit breaker %s", new.value, extra=extra)

    def _report_serving(self) -> None:
        serving, reason = self.serving
        if serving != self._reported_serving:
            self._reported_serving = serving
            if self.on_serving_change is not None:
                self.on_serving_change(serving, reason)

    def _execution_power(self) -> float:
        execution = self._execution
        return execution.power_mw if execution is not None else 0.0

    def _next_execution(self, now_s: float) -> Execution | None:
        with self._queue_lock:
            record = self._queue.popleft() if self._queue else None
            tables = self._tables.pop(record.id, None) if record is not None else None
        if record is None:
            return None
        self._replans_at_start = self.control.stats.replans
        execution = Execution(record, self.driver, self._book, now_s, tables)
        if record.resumption is not None:
            try:
                self.control.start_resume(execution, now_s)
            except Exception as exc:  # a fault here fails this job, never the device loop
                self._resume_failed(execution, now_s, exc)
                return None
            self._resuming = now_s
        else:
            log.info("job started", extra={"job": record.id, "device": self.device_id})
        self._execution = execution
        return execution

    def _resumed(self, execution: Execution, now_s: float) -> bool:
        """Whether a job resumed after a restart may go on: once its re-plan (started off this
        thread by `_next_execution`) has landed, record that it goes on (a `resumed` event, then
        the re-plan's `replanned`); or fail it with the reason. False while the re-plan runs
        (no task starts) and when the job failed. The `resumed` event carries the device time
        the loop took the job up; the `replanned` event the time its plan landed."""
        record = execution.record
        taken_up_s = self._resuming
        assert taken_up_s is not None
        try:
            plan = self.control.resumed_plan(execution)
            if plan is None:
                return False
            self._resuming = None
            self._book.restarted(record, taken_up_s, execution.start_s)
            self.control.follow_resumed(execution, now_s, plan)
        except Exception as exc:  # a fault here fails this job, never the device loop
            self._resuming = None
            self._execution = None
            self._resume_failed(execution, now_s, exc)
            return False
        log.info("job resumed after a restart", extra={"job": record.id})
        return True

    def _resume_failed(self, execution: Execution, now_s: float, exc: Exception) -> None:
        record = execution.record
        if not isinstance(exc, ResumeRefused):
            log.exception("resuming a job after the restart failed", extra={"job": record.id})
        self._book.fail(
            record,
            now_s,
            f"photond restarted while the job ran and could not resume it: {exc}",
            execution.result(now_s),
        )

    def _end(self, execution: Execution, now_s: float, cancelled: bool = False) -> None:
        self._execution = None
        self._resuming = None
        self.control.ended(execution)
        self._applied_mw = np.zeros_like(self._applied_mw)
        if cancelled:
            execution.stop(now_s)
        self.driver.safe_state()
        # The loop is done with the job: the finisher builds its result and records its end
        # while the loop goes on (and may start the next job, whose events are its own).
        self._finisher.submit(self._record_end, execution, now_s, cancelled)

    def _record_end(self, execution: Execution, now_s: float, cancelled: bool) -> None:
        """On the finisher thread: the ended job's result, then its completion or cancellation."""
        record = execution.record
        try:
            result = execution.result(now_s)
            # Its tables freed a chunk at a time on the disposer thread, not all at once when
            # this thread drops the execution (photond.disposal).
            dispose(*execution.let_go())
            if cancelled:
                self._book.cancel(record, now_s, result)
            else:
                self._book.complete(record, now_s, result)
        except Exception as exc:  # the job must still end, and the finisher go on
            log.exception("recording a job's end failed", extra={"job": record.id})
            self._book.fail(record, now_s, f"recording its end failed: {exc}")
        state = job_pb2.JobState.Name(record.job.state)
        log.info("job ended", extra={"job": record.id, "state": state})

    def _park_after_error(self, now_s: float) -> None:
        execution, self._execution = self._execution, None
        self._resuming = None
        self._applied_mw = np.zeros_like(self._applied_mw)
        self._held_since_s = None
        parked = "the device was put in its safe state"
        try:
            self.driver.safe_state()
            self._safe_state_pending = False
        except Exception:
            log.exception("safe state failed", extra={"device": self.device_id})
            self._safe_state_pending = True
            parked = "the safe state is re-sent until the device confirms it"
        if execution is not None:
            execution.stop(now_s)
            self.control.ended(execution)
            self._book.fail(
                execution.record,
                now_s,
                f"device error: {self.last_error}; {parked}; the job is not resumed, "
                "because its running tasks were cut off",
                execution.result(now_s),
            )
        # Back off so a persistently failing device does not spin the loop.
        self._stopping.wait(min(1.0, max(self.period_s, 0.01)))
