"""The device loop: one thread per device that samples, dispatches and never waits on a client.

Each pass reads every sensor, publishes the sample to telemetry, advances the running job
(finishing and starting tasks that are due) and sleeps until the next control period or the
next task event, whichever is first, so that tasks start on time without a fast idle loop.
Jobs run one at a time per device, in submission order. On any error toward the device the
loop's last act is the safe state; the job fails with the reason and the loop keeps running.

A circuit breaker (photon_drivers.breaker) counts failed passes. While it is open the loop
neither samples nor dispatches; it only re-sends the safe state until one is confirmed.
Half-open, it probes with a ping followed by the safe state, so that the device is parked
before any dispatch resumes. A job whose device failed is not resumed: its tasks were cut off
mid-run and the heaters went off, so its thermal plan no longer describes the device. Queued
jobs wait and start once the breaker has closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from photon.v1 import job_pb2
from photon_drivers.breaker import BreakerConfig, BreakerState, CircuitBreaker
from photon_drivers.interface import Driver

from .execution import Execution
from .jobs import JobBook, JobRecord
from .telemetry import Frame, TelemetryHub

log = logging.getLogger("photond.runtime")

# Wall seconds between passes while the breaker is open (and between safe-state retries).
_OPEN_POLL_S = 0.05


class DeviceRuntime:
    """Owns one driver: its loop thread, its job queue and its telemetry."""

    def __init__(
        self,
        device_id: str,
        driver: Driver,
        book: JobBook,
        period_s: float,
        breaker: BreakerConfig | None = None,
    ) -> None:
        self.device_id = device_id
        self.driver = driver
        self.period_s = period_s
        self.hub = TelemetryHub()
        self._book = book
        self._queue: deque[JobRecord] = deque()
        self._queue_lock = threading.Lock()
        self._execution: Execution | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"device-{device_id}", daemon=True)
        self.last_error = ""
        self.breaker = CircuitBreaker(breaker, on_change=self._breaker_changed)
        self._safe_state_pending = False
        # Told (serving, reason) from the loop thread whenever `serving` flips.
        self.on_serving_change: Callable[[bool, str], None] | None = None
        self._reported_serving = True

    # -- called from RPC handlers ---------------------------------------------------------------

    def enqueue(self, record: JobRecord) -> None:
        with self._queue_lock:
            self._queue.append(record)
        self._wake.set()

    def cancel(self, record: JobRecord) -> None:
        """Cancel a queued job at once, or ask the loop to stop a running one."""
        with self._queue_lock:
            if record in self._queue:
                self._queue.remove(record)
                self._book.cancel(record, self.driver.clock.now_s())
                return
        record.cancel_requested.set()
        self._wake.set()

    @property
    def queued_jobs(self) -> int:
        with self._queue_lock:
            return len(self._queue)

    @property
    def active(self) -> tuple[str, tuple[str, ...]]:
        """(job id, running task ids) of the job now executing; ("", ()) when idle."""
        execution = self._execution
        if execution is None:
            return "", ()
        return execution.record.id, execution.running_task_ids

    @property
    def serving(self) -> tuple[bool, str]:
        """(True, "") when jobs can be dispatched; else (False, why)."""
        state = self.breaker.state
        if state is not BreakerState.CLOSED:
            return False, f"circuit breaker {state.value}: {self.last_error or 'probing'}"
        if self.last_error:
            return False, self.last_error
        return True, ""

    def start(self) -> None:
        self._step()  # a first sample before we report ready, so state and telemetry have data
        self._report_serving()
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop, then park: heaters off, a running job failed with the reason."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        now_s = self.driver.clock.now_s()
        execution, self._execution = self._execution, None
        if execution is not None:
            execution.stop(now_s)
            self._book.fail(
                execution.record,
                now_s,
                "photond shut down while the job ran; the device was parked in its safe state",
                execution.result(now_s),
            )
        self.driver.close()

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        clock = self.driver.clock
        while not self._stopping.is_set():
            now_s = self._step()
            self._report_serving()
            wake_s = now_s + self.period_s
            if self._execution is not None:
                wake_s = min(wake_s, self._execution.next_event_s(now_s))
            clock.sleep_until(wake_s, self._wake)
            self._wake.clear()

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
            power_mw = self._execution_power()
            self.hub.publish(Frame(now_s, time.time(), sample.temperature_c, power_mw))
            execution = self._execution
            if execution is None:
                execution = self._next_execution(now_s)
            if execution is not None:
                if execution.record.cancel_requested.is_set():
                    self._end(execution, now_s, cancelled=True)
                    return now_s
                execution.step(now_s, sample)
                if execution.done:
                    self._end(execution, now_s)
            self.last_error = ""
            self.breaker.record_success()
        except Exception as exc:  # any failure toward the device: park it, fail the job, go on
            log.exception("device loop step failed", extra={"device": self.device_id})
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.breaker.record_failure()
            self._park_after_error(now_s)
        return now_s

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
        if record is None:
            return None
        self._execution = Execution(record, self.driver, self._book, now_s)
        log.info("job started", extra={"job": record.id, "device": self.device_id})
        return self._execution

    def _end(self, execution: Execution, now_s: float, cancelled: bool = False) -> None:
        self._execution = None
        if cancelled:
            execution.stop(now_s)
            self.driver.safe_state()
            self._book.cancel(execution.record, now_s, execution.result(now_s))
        else:
            self.driver.safe_state()
            self._book.complete(execution.record, now_s, execution.result(now_s))
        state = job_pb2.JobState.Name(execution.record.job.state)
        log.info("job ended", extra={"job": execution.record.id, "state": state})

    def _park_after_error(self, now_s: float) -> None:
        execution, self._execution = self._execution, None
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
            self._book.fail(
                execution.record,
                now_s,
                f"device error: {self.last_error}; {parked}; the job is not resumed, "
                "because its running tasks were cut off",
                execution.result(now_s),
            )
        # Back off so a persistently failing device does not spin the loop.
        self._stopping.wait(min(1.0, max(self.period_s, 0.01)))
