"""The closed loop's decisions for one device: estimate, forecast, and when to re-plan.

The device loop (`runtime`) owns time, the driver and dispatch; it hands every sample to this
object and asks, once per control period, whether the running job may start tasks. In the
default mode, ``closed``:

- every sample goes through the observer (a Kalman filter, `observer`);
- every `forecast_every_periods` periods the rest of the plan (running tasks to their end,
  pending ones at their planned periods) is forecast from the estimate (`job_forecast`), as
  far as `FORECAST_HORIZON_TAUS` of the model's slowest time constant ahead. Beyond that the
  estimate's error has decayed below a thousandth, so the plan's own prediction stands for
  those tasks, and they are forecast as they come within the horizon. Without the bound a
  100k-task job cost each forecast a walk over every pending task (a quarter of a second on
  the loop thread, every tenth period). The trace the drift check compares with reaches as
  far, and is forecast again from the estimate when the loop reaches its end;
- a forecast (or reference trace) of more than `FORECAST_INLINE_TASKS` tasks runs on a thread
  of its own, from what the loop handed it at the pass it was due (the estimate, the tasks
  pending and running then), and the loop acts on it at the first pass after it lands, unless
  the plan changed meanwhile. Such a job has thousands of tasks within the horizon, and the
  walk took the loop thread 5-15 ms a forecast, 25 ms at the job's start with its reference
  trace: missed periods on a loaded machine. The forecast kernels release the interpreter, so
  the loop runs beside them; the decision comes a period or two later, within the
  `forecast_every_periods` cadence, while the interlock (independent of forecasts) stays
  immediate. Smaller forecasts cost well under a millisecond and stay on the loop thread;
- the tasks not yet started are re-planned (`replan.replan`) when the forecast's hottest spot
  exceeds max temperature - `margin_c`, or when the estimated hottest spot has drifted more
  than `drift_threshold_c` from the trace the current plan was expected to follow. A new plan
  aims `headroom_c` below the trigger so that forecast noise does not re-trigger it at once.
  Each re-plan is a `replanned` job event with its reason. A forecast peak above the trigger
  is confirmed by the observer's full model before it counts (`_peak_forecast`): the forecast
  model, truncated to its slowest modes, over-predicts short tasks' peaks by tenths of a
  degree, and that alone re-planned jobs nothing disturbed (benchmarks/regret.py).
- a re-plan is first an immediate re-time that keeps the plan's order (`replan.replan`, on this
  thread up to `RETIME_INLINE_TASKS` tasks not yet started; beyond, on the worker thread, and
  no task starts until it lands), then an anytime search from it (`replan.improve`) on a worker
  thread within `replan_budget_s`; its plan is swapped in at a later pass only if, re-timed
  from the state at that pass, it still ends sooner and stays within the limit.

A job that photond was running when it stopped, resumed after the restart (the daemon setting
`running_jobs_on_restart = "resume"`), starts with the same re-time: every task it had not
finished is pending, none runs, and `start_resume` re-times them from the estimate in the order
of the plan the job last followed, held to the limit new plans are held to
(`planning_margin_c`), on the worker thread (`resumed_plan` takes the plan at a later pass; no
task starts meanwhile); a re-time that cannot keep it refuses the resume (`ResumeRefused`).
This happens in every mode: the plan from before the restart is on a clock that no longer runs.

Two weaker modes exist for comparison (benchmarks/closed_loop.py) and for a lab that wants
them: ``reactive`` only stops starting tasks while a measured temperature is above
max - margin, and ``open`` executes the plan as it was made.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray
from opentelemetry.context import Context

from photon_drivers.interface import SensorSample
from photon_drivers.profile import DeviceProfile, LimitsSpec, load_profile
from photond import heap
from photond.disposal import dispose
from photond.jobs.book import JobBook, JobRecord
from photond.loop.control_config import ControlConfig
from photond.loop.execution import Execution, PreparedSwap
from photond.loop.observer import Observer
from photond.metrics import instruments
from photond.model.loop_model import Estimate
from photond.planning.drift import drift_limits_k
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.job_tables import Forecast, JobForecast
from photond.planning.plan import Plan, PlannedTask
from photond.planning.replan import Remaining, RunningTask, improve, replan
from photond.planning.retime import forecast_peak, warm_up
from photond.planning.superposition import task_tables
from photond.tracing import tracer
from photond.wire import replanned_event

log = logging.getLogger("photond.loop")

# How far ahead the forecast looks, in the slowest mode's time constants: e^-7 < 0.001.
FORECAST_HORIZON_TAUS = 7.0
# The `replanned` event of a job resumed after a restart.
RESUME_REASON = (
    "photond restarted while the job ran: its unfinished tasks re-planned from the device's state"
)


# Why a re-plan happened, as the metric's `reason` label names it: the forecast crossed
# max - margin, the estimate drifted from the planned trace, a hold (interlock or emergency
# stop) cleared, photond restarted while the job ran.
REPLAN_KINDS = ("forecast", "drift", "hold_cleared", "restart")

# How many of the latest re-plans `LoopStats` keeps the latency and reason of.
REPLANS_KEPT = 10_000

# Tasks (pending within the horizon, and running) beyond which a forecast runs off the loop
# thread (see the module docstring): 512 cost the loop ~0.4 ms; 6,000 (a 100k-task job's
# horizon) cost 4.5 ms on an idle machine, 15 ms on a loaded one.
FORECAST_INLINE_TASKS = 512

# Tasks not yet started beyond which a re-plan is re-timed on the worker thread, with its swap
# and its event worked out there too (`_retime_off_loop`). The whole re-plan on the loop thread
# cost it (thread CPU, this machine) 1.5-2 ms at 500 tasks, 2-3 ms at 1,000, 5-6 ms at 2,000,
# 12-14 ms at 5,000 and 0.43-0.51 s at 100,000; under machine load 20 a CPU-bound loop thread
# gets a core a tenth of the time, and one such re-plan was a 6-7 s gap between frames
# (benchmarks/loop_stall.py --load 8 --diagnose). A re-plan now makes up to four re-times
# (`replan.replan`): where a task must wait, 3.7 ms at 500 tasks on a warm chip and 6.5-7.0 ms
# at 1,000 against 0.65 and 1.2 ms for the one re-time before (`loop_runs.replan_latency`,
# the two trees alternated), so the bound fell from 2,000 to 400 to keep the loop thread's
# re-plan near the 2.6-2.7 ms that 2,000 tasks cost it before.
RETIME_INLINE_TASKS = 400

_Result = TypeVar("_Result")
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class _ForecastInput:
    """What a forecast reads of the running job, taken on the loop thread at one pass: the
    lists are copies and the rest does not change, so another thread may forecast from it."""

    forecast: JobForecast
    estimate: Estimate
    pending: list[PlannedTask]
    running: tuple[tuple[PlannedTask, float], ...]
    tasks: Mapping[str, CheckedTask]
    now_s: float
    start_s: float
    period: int
    period_s: float
    trace_periods: int

    @property
    def size(self) -> int:
        return len(self.pending) + len(self.running)


@dataclass(frozen=True)
class _OffLoop(Generic[_Result]):
    """A forecast under way on the forecast thread, and the plan and period it was asked at."""

    future: Future[_Result]
    plan: Plan | None
    period: int


def _windows(given: _ForecastInput) -> tuple[IntArray, IntArray, IntArray]:
    """(table rows, start periods, end periods) of the running tasks, then the pending ones
    given (`ClosedLoop._forecast_input`), counted from the pass they were taken at."""
    fc, dt, k = given.forecast, given.period_s, given.period
    pending, running, now_s = given.pending, given.running, given.now_s
    # Arrays, not a tuple per task: thousands of tasks lie within the horizon of a large job.
    index = fc.index
    rows = np.fromiter((index[p.task_id] for p, _ in running), np.int64, len(running))
    task_rows = np.fromiter((index[p.task_id] for p in pending), np.int64, len(pending))
    start_s = np.fromiter((p.start_s for p in pending), np.float64, len(pending))
    task_start = np.maximum(0, np.rint(start_s / dt).astype(np.int64) - k)
    left_s = np.fromiter(
        (started_s + given.tasks[p.task_id].duration_s - now_s for p, started_s in running),
        np.float64,
        len(running),
    )
    run_end = np.maximum(0, np.ceil(left_s / dt - 1e-9).astype(np.int64))
    return (
        np.concatenate((rows, task_rows)),
        np.concatenate((np.zeros(len(running), np.int64), task_start)),
        np.concatenate((run_end, task_start + fc.duration[task_rows])),
    )


def _forecast(given: _ForecastInput) -> Forecast:
    """Forecast the running tasks and the pending ones given (`ClosedLoop._forecast_input`)."""
    rows, start, end = _windows(given)
    return given.forecast.forecast_rows(given.estimate, rows, start, end, given.trace_periods)


@dataclass(frozen=True)
class _Peak:
    """A peak forecast (`_peak_forecast`): the forecast model's, and where that crossed the
    trigger, the full model's peak and when (°C, s from the pass it was taken at)."""

    forecast: Forecast
    full_c: float | None = None
    full_in_s: float = 0.0

    @property
    def peak_c(self) -> float:
        """The peak the trigger judges: the full model's where it was asked."""
        return self.forecast.peak_c if self.full_c is None else self.full_c


def full_model_peak(
    fc: JobForecast, estimate: Estimate, rows: IntArray, start: IntArray, end: IntArray
) -> tuple[float, int]:
    """The hottest limit point (°C) and its period that the observer's full model
    (`JobForecast.full_model`) forecasts for tasks at table `rows` over [start, end) periods
    from `estimate`: `JobForecast.forecast_rows` without the truncation, its tables built
    here for these tasks only, read at every event and at the end of every period until the
    last task ends (between events a point's temperature need not move monotonically: heat
    from a neighbour switched off still arrives)."""
    full = fc.full_model
    heater_pos = {h: q for q, h in enumerate(full.heater_ids)}
    power = np.zeros((len(rows), full.heaters))
    for j, row in enumerate(rows.tolist()):
        for h, p in fc.graph.tasks[row].heater_power_mw.items():
            power[j, heater_pos[h]] = p
    task_in, task_feed = task_tables(full, power)
    limit_out, limit_feed = full.limit_readout()
    offset = estimate.ambient_offset_c
    peak_c, at = forecast_peak(
        full.decay,
        np.ascontiguousarray(limit_out.T),
        np.ascontiguousarray(estimate.state.x),
        np.ascontiguousarray(full.input_gain[:, -1] * offset),
        np.ascontiguousarray(full.ambient_c + limit_feed[:, -1] * offset),
        start,
        end,
        task_in,
        task_feed,
        np.zeros(int(end.max(initial=0)) + 1),
    )
    return float(peak_c), int(at)


def _full_peak(given: _ForecastInput) -> tuple[float, float]:
    """`full_model_peak` of the tasks given (°C, and when in s)."""
    peak_c, at = full_model_peak(given.forecast, given.estimate, *_windows(given))
    return peak_c, at * given.period_s


def _peak_forecast(given: _ForecastInput, trigger_c: float | None) -> _Peak:
    """The forecast of the tasks given; where its peak crosses `trigger_c`, confirmed by the
    full model (`_full_peak`). None: the old rule, the forecast model alone.

    The forecast model keeps the slowest modes and moves the others' steady heat into the
    feedthrough, so a task's fast heat arrives the moment it starts instead of over tens of
    milliseconds: it over-predicts the peaks of short tasks. On the comparative study's
    synthetic job photond's plan peaks at 82.82 °C in it against 82.54 °C in the full model
    (planned to 82.50), so with the trigger at 83 °C the loop re-planned undisturbed jobs
    whenever the estimate's noise added a few tenths (benchmarks/regret.py). The cheap model
    screens every forecast; the full one (16 modes, read every period to the last task's end)
    runs only where the screen crosses.
    """
    result = _forecast(given)
    if trigger_c is None or result.peak_c <= trigger_c:
        return _Peak(result)
    full_c, full_in_s = _full_peak(given)
    return _Peak(result, full_c, full_in_s)


@dataclass(frozen=True)
class _Retimed:
    """A re-time that ran on the worker thread (`ClosedLoop._retime_off_loop`): the plan, the
    swap to it and its event, worked out there."""

    plan: Plan
    swap: PreparedSwap
    event: bytes


def _let_go(forecast: JobForecast | None) -> None:
    """Hand a job's forecast tables' per-task containers to the disposer (`photond.disposal`),
    which frees them a chunk at a time once the forecast is gone: dropped whole on the loop's
    thread, a 100k-task job's took 5-7 ms of the pass that ended the job."""
    if forecast is not None:
        dispose(*forecast.index.shards)


def _replan_span(
    execution: Execution, remaining: Remaining, reason: str, now_s: float
) -> tuple[dict[str, str | int | float], Context | None]:
    """A re-plan's span attributes, and its parent: the job's run in its trace, if traced."""
    attributes: dict[str, str | int | float] = {
        "photond.job_id": execution.record.id,
        "photond.planning.replan.reason": reason,
        "photond.tasks_remaining": len(remaining.tasks),
        "photond.device_time_s": now_s,
    }
    trace = execution.record.trace
    return attributes, trace.context() if trace is not None else None


def warm_loop_kernels(period_s: float, config: ControlConfig) -> None:
    """Compile (or load from numba's cache) the device loops' kernels before any device is
    known: an observer (which warms its own) and, in closed mode, `warm_up_loop`, on the
    shipped chip sketched as a layer stack (~260 nodes, no HotSpot files), as the planning
    processes warm theirs (`device_plan.warm_kernels`).

    A kernel's machine code depends on its argument types, not on the device: a device loop
    built afterwards loads nothing (test_closed_loop checks it). The daemon runs this while its
    drivers open, whose eigendecompositions let the interpreter go, so that loading the kernels
    (~0.2 s warm) is off its path to READY.
    """
    sketch = replace(load_profile(), thermal=None)
    observer = Observer(sketch, period_s, config.observer)
    if config.mode == "closed":
        warm_up_loop(sketch, observer)


def warm_up_loop(profile: DeviceProfile, observer: Observer) -> None:
    """Compile (or load from numba's cache) every kernel the closed loop runs: the re-time and
    the forecast (`retime.warm_up`), and a job's tables, built and forecast for one
    drift-sensitive task (superposition, drift, the full model's peak). Called as a device
    loop is built, before READY: the first job then loads none on its submission's thread or
    the loop's. These are all the kernels the daemon's process needs (the observer warms its
    own); the planner's run in the planning processes."""
    warm_up()
    if not profile.heaters:
        return
    model = observer.model
    graph = CheckedGraph(
        (
            CheckedTask(
                "warm-up",
                10 * model.dt_s,
                {profile.heaters[0].id: 1.0},
                (),
                (),
                0.0,
                0.0,
                0,
                drift_tolerance_rad=0.5,
            ),
        )
    )
    forecast = JobForecast(graph, model, drift_limits_k(graph, profile, model.heater_ids))
    estimate = observer.estimate()
    rows = np.zeros(1, dtype=np.int64)
    start = np.zeros(1, dtype=np.int64)
    end = start + forecast.duration[rows]
    forecast.forecast_rows(estimate, rows, start, end, int(end[0]) + 1)
    full_model_peak(forecast, estimate, rows, start, end)


class ResumeRefused(Exception):
    """A job resumed after a restart cannot be re-planned from the device's state; the message
    says why."""


# Passes whose lateness `LoopStats.jitter_s` keeps: 2,000 s at the 10 ms default period.
JITTER_KEPT = 200_000


class LatenessRing:
    """The latest `size` latenesses (seconds) in one preallocated float array.

    Not a deque of floats: a pass adds one every period, so each float made while a burst of
    large jobs fills CPython's small-object arenas outlives the burst by half an hour, and a
    few thousand of them scattered over those arenas kept 2-17 of them (MiB each) resident
    after the burst (benchmarks/memory_survivors.py, docs/operations.md "Memory").
    """

    def __init__(self, size: int) -> None:
        # Filled, not np.zeros: every page resident now. Zeroed pages come from the kernel as
        # they are first written, and the daemon's RSS crept up 1.6 MB over its first 2,000 s.
        self._values = np.full(size, np.nan)
        self._count = 0  # appended in all; the next slot is _count % size

    def append(self, value_s: float) -> None:
        self._values[self._count % self._values.shape[0]] = value_s
        self._count += 1

    def __len__(self) -> int:
        return min(self._count, self._values.shape[0])

    @property
    def latest_s(self) -> float:
        """The last lateness appended (0.0 before the first)."""
        if not self._count:
            return 0.0
        return float(self._values[(self._count - 1) % self._values.shape[0]])

    def values(self) -> NDArray[np.float64]:
        """The kept latenesses, oldest first (a copy)."""
        size = self._values.shape[0]
        if self._count <= size:
            return self._values[: self._count].copy()
        cut = self._count % size
        return np.concatenate((self._values[cut:], self._values[:cut]))


@dataclass
class LoopStats:
    """What the loop did, for benchmarks and operators."""

    replans: int = 0
    # The latest REPLANS_KEPT re-plans' latencies and reasons: a loop runs for months, so a
    # record of every one would grow without bound (the totals are `replans` and the metrics).
    replan_latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=REPLANS_KEPT))
    replan_reasons: deque[str] = field(default_factory=lambda: deque(maxlen=REPLANS_KEPT))
    # Re-plans by the kind of their reason (REPLAN_KINDS), for the metric photon_replans_total.
    replans_by_kind: dict[str, int] = field(default_factory=dict)
    # Plans the off-thread search found and the loop swapped in, and the remaining makespan
    # each saved over the immediate re-time it started from (seconds).
    searched: int = 0
    search_gain_s: list[float] = field(default_factory=list)
    # How late each pass started, seconds, the latest JITTER_KEPT of them.
    jitter_s: LatenessRing = field(default_factory=lambda: LatenessRing(JITTER_KEPT))
    # The latest forecast's peak, in the forecast model (before any full-model confirmation).
    forecast_peak_c: float = -math.inf
    # Forecasts whose forecast-model peak crossed the trigger and the full model did not
    # confirm (`_peak_forecast`): re-plans the old rule would have made.
    unconfirmed: int = 0


class ClosedLoop:
    """Estimate, forecast and re-plan for one device; see the module docstring."""

    def __init__(
        self,
        profile: DeviceProfile,
        period_s: float,
        book: JobBook,
        config: ControlConfig,
        *,
        device_id: str = "",
    ) -> None:
        self.config = config.checked()
        self._metric_attributes = {"device": device_id}
        self.profile = profile
        self.observer = Observer(profile, period_s, config.observer)
        self.lanes = tuple(lane.id for lane in profile.lanes)
        self.max_c = profile.limits.max_device_temperature_c
        self.max_gradient_c_per_mm = profile.limits.max_thermal_gradient_c_per_mm
        self.heater_ids = self.observer.model.heater_ids
        self.forecast_horizon_s = FORECAST_HORIZON_TAUS * float(
            self.observer.model.time_constants_s.max()
        )
        self.estimate: Estimate = self.observer.estimate()
        self.stats = LoopStats()
        # A peak forecast that crosses the trigger is confirmed by the full model before it
        # re-plans (`_peak_forecast`). benchmarks/regret.py turns this off to measure the rule
        # it replaced, side by side; it is not a setting.
        self.confirm_forecasts = True
        self._book = book
        self._period_s = period_s
        self._execution: Execution | None = None
        self._forecast: JobForecast | None = None
        # Forecast tables built ahead for queued jobs (`prepare`), by job id.
        self._prepared: dict[str, JobForecast] = {}
        self._prepared_lock = threading.Lock()
        self._plan: Plan | None = None
        self._trace_c = np.zeros(0)
        self._trace_from = 0
        self._last_forecast = -(10**9)
        self._search: Future[Plan | None] | None = None
        # A re-time running on the worker (jobs with drift-tolerant tasks), its reason and kind.
        self._retime: tuple[Future[_Retimed], str, str] | None = None
        # The re-time of a job resumed after a restart under way (`start_resume`).
        self._resuming: tuple[Execution, Remaining, Future[Plan]] | None = None
        self._searcher: ThreadPoolExecutor | None = None
        # Large forecasts (FORECAST_INLINE_TASKS): a thread apart from the search's, whose
        # budget would delay them; the peak forecast and the reference trace under way on it.
        self._forecaster: ThreadPoolExecutor | None = None
        self._ahead: _OffLoop[_Peak] | None = None
        self._tracing: _OffLoop[Forecast] | None = None
        if self.config.mode == "closed":
            warm_up_loop(profile, self.observer)

    def close(self) -> None:
        """Stop the search worker (a search under way ends at its budget; its plan is dropped)."""
        self._search = None
        self._retime = None
        self._resuming = None
        self._ahead = self._tracing = None
        if self._searcher is not None:
            self._searcher.shutdown(wait=False, cancel_futures=True)
        if self._forecaster is not None:
            self._forecaster.shutdown(wait=False, cancel_futures=True)

    def applied_vector(self, powers_mw: dict[str, float]) -> np.ndarray:
        return np.array([powers_mw.get(h, 0.0) for h in self.heater_ids])

    def computing(self) -> bool:
        """Whether work for the running job is under way off the loop thread: a re-time (no
        task starts until it lands), a search, a large forecast. On a real clock it costs the
        job the periods it takes; a benchmark that runs the loop in manual device time, many
        times faster than real time, would charge it many more, so it paces the loop at real
        time meanwhile (`photon_bench.loop_runs.RecordingSim`). Read on the loop thread."""
        futures = (
            self._retime[0] if self._retime is not None else None,
            self._search,
            self._resuming[2] if self._resuming is not None else None,
            self._ahead.future if self._ahead is not None else None,
            self._tracing.future if self._tracing is not None else None,
        )
        return any(f is not None and not f.done() for f in futures)

    def predicted_peak_c(self, execution: Execution) -> float:
        """The predicted peak of the plan `execution` follows now (its latest re-plan's)."""
        plan = self._plan if self._execution is execution and self._plan else None
        plan = plan or execution.record.plan
        return plan.predicted_peak_temperature_c if plan is not None else math.nan

    def observe(self, sample: SensorSample, applied_mw: np.ndarray, periods: int) -> Estimate:
        self.estimate = self.observer.update(sample, applied_mw, periods)
        return self.estimate

    def set_limits(self, limits: LimitsSpec) -> None:
        """Hold forecasts and re-plans to new limits (UpdateLimits): the running job's rest is
        forecast again at the next pass and re-planned if it exceeds max temperature - margin.
        Called from an RPC thread: two float assignments the loop reads at its next forecast."""
        self.max_c = limits.max_device_temperature_c
        self.max_gradient_c_per_mm = limits.max_thermal_gradient_c_per_mm
        self._last_forecast = -(10**9)

    def may_start(self, execution: Execution, now_s: float, sample: SensorSample) -> bool:
        """Whether the job may start tasks this period; re-plans first when it should."""
        mode = self.config.mode
        if mode == "open":
            return True
        if mode == "reactive":
            readings = [t for t in sample.temperature_c if math.isfinite(t)]
            return not readings or max(readings) <= self.max_c - self.config.margin_c
        if execution is not self._execution:
            self._begin(execution, now_s)
        if self._retime is not None:
            if not self._retime[0].done():
                return False  # no task starts until the re-time under way lands
            self._land_retime(execution, now_s)
        self._take_search(execution, now_s)
        self._take_trace(execution)
        k = self._period_of(execution, now_s)
        # A forecast that ran off the loop thread: acted on now, as if it were due now.
        reason = self._peak_reason(self._take_forecast(execution))
        if reason:
            self._last_forecast = k
            self.replan(execution, now_s, reason, "forecast")
        elif k - self._last_forecast >= self.config.forecast_every_periods:
            self._last_forecast = k
            kind, reason = self._why_replan(execution, now_s, k)
            if reason:
                self.replan(execution, now_s, reason, kind)
        return self._retime is None

    def replan(self, execution: Execution, now_s: float, reason: str, kind: str) -> None:
        """Re-time the tasks not yet started from the estimate, swap the plan, tell watchers;
        then start the search for a shorter one. `kind` is the reason's kind (REPLAN_KINDS).

        A job with drift-tolerant tasks, or more than RETIME_INLINE_TASKS not yet started, is
        re-timed on the worker thread instead, and no task starts until its plan lands: the
        drift rule plays tolerant tasks period by period, which for a thousand tasks on a
        cooling chip takes tenths of a second, far beyond a control period, and a 100k-task
        re-plan is half a second of Python. Such a job gets no search (swapping one in would
        re-time on this thread).
        """
        warm = self._plan or execution.record.plan
        assert warm is not None, "a job runs only once it has a plan"
        remaining = self._remaining(execution, now_s, warm)
        attributes, parent = _replan_span(execution, remaining, reason, now_s)
        if remaining.forecast.holds_drift or len(remaining.tasks) > RETIME_INLINE_TASKS:
            self._search = None
            future = self._worker().submit(
                self._retime_off_loop,
                remaining,
                attributes,
                parent,
                reason,
                execution.pending_basis(),
            )
            self._retime = (future, reason, kind)
            return
        plan = self._timed_replan(remaining, attributes, parent)
        self._count_replan(reason, kind)
        self._swap(execution, now_s, reason, plan)
        self._start_search(replace(remaining, warm_start=plan))

    def start_resume(self, execution: Execution, now_s: float) -> None:
        """Start re-planning a job resumed after a restart (`JobRecord.resumption`): its tasks
        not finished, all pending in `execution`, re-timed from the estimate in the order and
        on the lanes of the plan it last followed (`replan.replan`, as every re-plan), held to
        the limit new plans keep (`planning_margin_c`). The re-time runs on the re-plan worker,
        where drift re-plans run: for a large job it takes tenths of a second, which the loop
        thread must not spend (its period goes on; nothing of the job runs meanwhile and its
        heaters are off). `resumed_plan` takes the result. Nothing is recorded: the caller
        records the resumption, then `follow_resumed`.

        Raises:
            ResumeRefused: the plan the job followed does not place its tasks.
        """
        self._adopt(execution)
        warm = execution.record.plan
        assert warm is not None, "a job runs only once it has a plan"
        try:
            # New plans aim `planning_margin_c` below the maximum in every mode: so does this.
            remaining = replace(
                self._remaining(execution, now_s, warm),
                limit_c=self.max_c - self.config.planning_margin_c,
            )
        except ValueError as exc:
            self._drop(execution)
            raise ResumeRefused(str(exc)) from exc
        attributes, parent = _replan_span(execution, remaining, RESUME_REASON, now_s)
        future = self._worker().submit(self._timed_replan, remaining, attributes, parent)
        self._resuming = (execution, remaining, future)

    def resumed_plan(self, execution: Execution) -> Plan | None:
        """The plan `start_resume` re-timed for `execution`; None while the re-time runs.

        Raises:
            ResumeRefused: the re-time breaks the limit new plans keep (a task found no room
                within the re-time's longest wait), or the plan the job followed does not
                place its tasks.
        """
        resuming = self._resuming
        assert resuming is not None and resuming[0] is execution, "start_resume comes first"
        _, remaining, future = resuming
        if not future.done():
            return None
        self._resuming = None
        try:
            plan = future.result()
        except ValueError as exc:
            self._drop(execution)
            raise ResumeRefused(str(exc)) from exc
        peak_c = plan.predicted_peak_temperature_c
        gradient = plan.predicted_peak_gradient_c_per_mm
        if not remaining.within_limits(peak_c, gradient):
            self._drop(execution)
            broken = []
            if peak_c > remaining.limit_c + 1e-9:
                broken.append(
                    f"{peak_c:.2f} °C, above {remaining.limit_c:g} °C "
                    "(max temperature - planning margin)"
                )
            if gradient > remaining.max_gradient_c_per_mm + 1e-9:
                broken.append(
                    f"a gradient of {gradient:.2f} °C/mm, above "
                    f"{remaining.max_gradient_c_per_mm:g} °C/mm"
                )
            raise ResumeRefused(
                f"re-timed from the device's state, its {len(remaining.tasks)} unfinished "
                f"task(s) would reach {' and '.join(broken)}"
            )
        return plan

    def follow_resumed(self, execution: Execution, now_s: float, plan: Plan) -> None:
        """Swap in `resumed_plan`'s plan and tell watchers (a `replanned` event); in closed mode
        the loop goes on from it as from any re-plan (forecasts, search)."""
        self._count_replan(RESUME_REASON, "restart")
        if self.config.mode == "closed":
            self._swap(execution, now_s, RESUME_REASON, plan)
            self._start_search(self._remaining(execution, now_s, plan))
            return
        execution.swap_plan(plan.tasks)
        self._book.replanned(execution.record, now_s, RESUME_REASON, plan)
        self._drop(execution)  # nothing forecasts in this mode

    def _timed_replan(
        self,
        remaining: Remaining,
        attributes: dict[str, str | int | float],
        parent: Context | None = None,
    ) -> Plan:
        """The re-time, as a span in the job's trace (`parent`: its run) and a sample of the
        re-plan latency histogram."""
        started = time.perf_counter()
        with tracer.start_as_current_span(
            "photond.planning.replan", context=parent, attributes=attributes
        ) as span:
            plan = replan(remaining, self.lanes, self.estimate)
            span.set_attribute("photond.predicted_peak_c", plan.predicted_peak_temperature_c)
        latency_s = time.perf_counter() - started
        self.stats.replan_latency_s.append(latency_s)
        instruments.replan_duration.record(latency_s, self._metric_attributes)
        return plan

    def _count_replan(self, reason: str, kind: str) -> None:
        self.stats.replans += 1
        self.stats.replan_reasons.append(reason)
        self.stats.replans_by_kind[kind] = self.stats.replans_by_kind.get(kind, 0) + 1

    def _land_retime(self, execution: Execution, now_s: float) -> None:
        """Swap in the plan the worker re-timed (its starts may have slipped by the time it
        took; dispatch starts a late task when it is due, as it does for any late task)."""
        assert self._retime is not None
        future, reason, kind = self._retime
        self._retime = None
        try:
            retimed = future.result()
        except Exception:
            # A fault in the re-time must never stop the loop: the current plan stands.
            log.exception("re-plan failed; keeping the current plan")
            return
        self._count_replan(reason, kind)
        self._swap(execution, now_s, reason, retimed.plan, retimed)

    def _retime_off_loop(
        self,
        remaining: Remaining,
        attributes: dict[str, str | int | float],
        parent: Context | None,
        reason: str,
        basis: PreparedSwap,
    ) -> _Retimed:
        """On the worker thread: the re-time, then what swapping it in would build on the loop
        thread (for 100k tasks 0.1-0.2 s for the new order, 0.3-0.4 s for the event). With
        collection held off (`heap.building`): a collection runs on the thread that allocates
        and holds the interpreter throughout, and a 100k-task re-plan's objects set off gen-2
        collections of 0.2-0.5 s under load (benchmarks/loop_stall.py --diagnose), which the
        device loop waited through as if the work were its own."""
        with heap.building():
            plan = self._timed_replan(remaining, attributes, parent)
            return _Retimed(plan, basis.of(plan.tasks), replanned_event(reason, plan))

    def _worker(self) -> ThreadPoolExecutor:
        if self._searcher is None:
            self._searcher = ThreadPoolExecutor(1, thread_name_prefix="photond-replan")
        return self._searcher

    def _remaining(self, execution: Execution, now_s: float, warm_start: Plan) -> Remaining:
        return Remaining(
            tasks=tuple(p.task_id for p in execution.pending),
            running=tuple(
                RunningTask(
                    p.task_id, p.lane_id, started + execution.tasks[p.task_id].duration_s - now_s
                )
                for p, started in execution.running
            ),
            forecast=self._job_forecast(execution),
            elapsed_s=now_s - execution.start_s,
            warm_start=warm_start,
            limit_c=self.max_c - self.config.margin_c - self.config.headroom_c,
            max_gradient_c_per_mm=self.max_gradient_c_per_mm,
        )

    def _swap(
        self,
        execution: Execution,
        now_s: float,
        reason: str,
        plan: Plan,
        retimed: _Retimed | None = None,
    ) -> None:
        """Follow `plan` from now and tell watchers; `retimed`: its swap and event, worked out
        on the worker thread."""
        execution.swap_plan(plan.tasks, retimed.swap if retimed is not None else None)
        self._plan = plan
        event = retimed.event if retimed is not None else None
        self._book.replanned(execution.record, now_s, reason, plan, event)
        self._reference_trace(execution, now_s)

    def _start_search(self, remaining: Remaining) -> None:
        if len(remaining.tasks) < 2:
            self._search = None
            return
        # A search still running for an older plan finishes at its budget; its result is
        # dropped because `_search` no longer points at it.
        self._search = self._worker().submit(
            improve, remaining, self.lanes, self.estimate, self.config.replan_budget_s
        )

    def _take_search(self, execution: Execution, now_s: float) -> None:
        """Swap in the search's plan if it is done and, re-timed from now, still better."""
        search = self._search
        if search is None or not search.done():
            return
        self._search = None
        try:
            found = search.result()
        except Exception:
            # A fault in the search must never stop the loop: the re-timed plan stands.
            log.exception("re-plan search failed; keeping the re-timed plan")
            return
        current = self._plan
        if found is None or current is None or not execution.pending:
            return
        remaining = self._remaining(execution, now_s, found)
        plan = replan(remaining, self.lanes, self.estimate)
        gain_s = current.makespan_s - plan.makespan_s
        within = remaining.within_limits(
            plan.predicted_peak_temperature_c, plan.predicted_peak_gradient_c_per_mm
        )
        if gain_s <= 1e-9 or not within:
            return
        self.stats.searched += 1
        self.stats.search_gain_s.append(gain_s)
        reason = (
            f"search found a plan ending {gain_s:.2f} s sooner: makespan "
            f"{current.makespan_s:.2f} s -> {plan.makespan_s:.2f} s"
        )
        self._swap(execution, now_s, reason, plan)

    def _begin(self, execution: Execution, now_s: float) -> None:
        self._adopt(execution)
        self._reference_trace(execution, now_s)

    def _adopt(self, execution: Execution) -> None:
        """Make `execution` the job whose tables, plan and searches this loop keeps."""
        self._execution = execution
        self._forecast = None
        self._search = None
        self._retime = None
        self._resuming = None
        self._ahead = self._tracing = None
        self._plan = execution.record.plan
        self._last_forecast = -(10**9)

    def _drop(self, execution: Execution) -> None:
        """Let go of a job this loop will not follow (its tables are large)."""
        if self._execution is execution:
            self._execution = None
            forecast, self._forecast = self._forecast, None
            _let_go(forecast)
            self._plan = None

    def ended(self, execution: Execution) -> None:
        """Let go of a job that ended: its forecast tables, plan and searches. Kept until the
        next job starts, a 20k-task job's held ~60 MB of an idle daemon (benchmarks/startup)."""
        if self._execution is execution:
            self._drop(execution)
            self._search = self._retime = None
            self._ahead = self._tracing = None

    def prepare(self, record: JobRecord) -> None:
        """Build a queued job's forecast tables now, on the caller's thread (a submission's
        worker), so that its start does not build them on the loop thread: for a 100k-task job
        they take about a second of Python. A job resumed after a restart needs them in every
        mode (`start_resume`), and the re-time's kernels too."""
        resuming = record.resumption is not None
        if (self.config.mode != "closed" and not resuming) or record.graph is None:
            return
        if resuming and self.config.mode != "closed":
            warm_up()  # compiled (or loaded from the cache) here, not on the loop thread
        with heap.building():  # ~10 objects a task: no full collections meanwhile
            forecast = self._build_forecast(record.graph)
        if len(record.graph.tasks) > FORECAST_INLINE_TASKS:
            self._forecasts()
        with self._prepared_lock:
            self._prepared[record.id] = forecast

    def forget(self, record: JobRecord) -> None:
        """Drop what `prepare` built for a job that will not start (cancelled while queued)."""
        with self._prepared_lock:
            forecast = self._prepared.pop(record.id, None)
        _let_go(forecast)

    def _build_forecast(self, graph: CheckedGraph) -> JobForecast:
        model = self.observer.model
        return JobForecast(graph, model, drift_limits_k(graph, self.profile, model.heater_ids))

    def _job_forecast(self, execution: Execution) -> JobForecast:
        if self._forecast is None:
            with self._prepared_lock:
                prepared = self._prepared.pop(execution.record.id, None)
            if prepared is None:
                assert execution.record.graph is not None
                prepared = self._build_forecast(execution.record.graph)
            self._forecast = prepared
        return self._forecast

    def _period_of(self, execution: Execution, now_s: float) -> int:
        return round((now_s - execution.start_s) / self._period_s)

    def _forecast_input(
        self, execution: Execution, now_s: float, trace_periods: int = 0
    ) -> _ForecastInput:
        """What a forecast of the running tasks and the pending ones that start within the
        horizon (or within the trace asked for, if that is longer) reads, taken now."""
        ahead_s = max(self.forecast_horizon_s, trace_periods * self._period_s)
        return _ForecastInput(
            forecast=self._job_forecast(execution),
            estimate=self.estimate,
            pending=execution.pending_before(now_s - execution.start_s + ahead_s),
            running=execution.running,
            tasks=execution.tasks,
            now_s=now_s,
            start_s=execution.start_s,
            period=self._period_of(execution, now_s),
            period_s=self._period_s,
            trace_periods=trace_periods,
        )

    def _off_loop(self, given: _ForecastInput) -> _OffLoop[Forecast] | None:
        """Start a large forecast on the forecast thread; None when `given` is small enough to
        forecast here (FORECAST_INLINE_TASKS)."""
        if given.size <= FORECAST_INLINE_TASKS:
            return None
        return _OffLoop(self._forecasts().submit(_forecast, given), self._plan, given.period)

    def _peak_off_loop(self, given: _ForecastInput) -> _OffLoop[_Peak] | None:
        """`_off_loop` for the peak forecast (`_peak_forecast`, confirmed where it crosses)."""
        if given.size <= FORECAST_INLINE_TASKS:
            return None
        future = self._forecasts().submit(_peak_forecast, given, self._confirm_above_c())
        return _OffLoop(future, self._plan, given.period)

    def _confirm_above_c(self) -> float | None:
        """Where a peak forecast is confirmed by the full model: the trigger (None: never)."""
        return self.max_c - self.config.margin_c if self.confirm_forecasts else None

    def _forecasts(self) -> ThreadPoolExecutor:
        """The forecast thread, started (`prepare` starts it for a large job: starting a thread
        costs the caller a couple of milliseconds, which the loop thread should not pay)."""
        with self._prepared_lock:
            if self._forecaster is None:
                self._forecaster = ThreadPoolExecutor(1, thread_name_prefix="photond-forecast")
                self._forecaster.submit(int).result()
            return self._forecaster

    def _landed(self, execution: Execution, under_way: _OffLoop[_Result]) -> _Result | None:
        """The forecast `under_way` computed, if it is done and still about the plan the job
        follows; None otherwise (a fault in it is logged: the loop goes on without it)."""
        if self._execution is not execution or under_way.plan is not self._plan:
            return None
        try:
            return under_way.future.result()
        except Exception:
            log.exception("a forecast failed; the loop goes on without it")
            return None

    def _take_forecast(self, execution: Execution) -> _Peak | None:
        """The peak forecast that ran off the loop thread, once it is done (else None)."""
        ahead = self._ahead
        if ahead is None or not ahead.future.done():
            return None
        self._ahead = None
        return self._landed(execution, ahead)

    def _take_trace(self, execution: Execution) -> None:
        """Follow the reference trace that ran off the loop thread, once it is done."""
        tracing = self._tracing
        if tracing is None or not tracing.future.done():
            return
        self._tracing = None
        result = self._landed(execution, tracing)
        if result is not None:
            self._trace_c = result.trace_c
            self._trace_from = tracing.period

    def _reference_trace(self, execution: Execution, now_s: float) -> None:
        """Remember the hottest-spot trace the current plan is expected to follow, as far as
        the forecast horizon (re-anchored from the estimate when the loop reaches its end)."""
        elapsed_s = now_s - execution.start_s
        ahead = execution.pending_before(elapsed_s + self.forecast_horizon_s)
        rest_s = self.forecast_horizon_s
        if len(ahead) == execution.pending_count:
            plan_end_s = max((p.end_s for p in ahead), default=0.0)
            rest_s = min(max(plan_end_s - elapsed_s, 0.0), rest_s)
        given = self._forecast_input(execution, now_s, round(rest_s / self._period_s) + 1)
        self._tracing = self._off_loop(given)
        if self._tracing is not None:
            # No drift is judged against the old plan's trace until this one lands.
            self._trace_c = np.zeros(0)
            return
        self._trace_c = _forecast(given).trace_c
        self._trace_from = given.period

    def _peak_reason(self, result: _Peak | None) -> str:
        """Why `result` calls for a re-plan ("" when it does not, or there is none)."""
        if result is None:
            return ""
        self.stats.forecast_peak_c = result.forecast.peak_c
        trigger_c = self.max_c - self.config.margin_c
        if result.peak_c <= trigger_c:
            if result.full_c is not None:
                self.stats.unconfirmed += 1
            return ""
        if result.full_c is None:
            peak_c, in_s, model = result.forecast.peak_c, result.forecast.peak_in_s, ""
        else:
            peak_c, in_s, model = result.full_c, result.full_in_s, " (full model)"
        return (
            f"forecast hottest spot {peak_c:.2f} °C in {in_s:.2f} s{model} exceeds "
            f"{trigger_c:g} °C (max temperature - margin)"
        )

    def _why_replan(self, execution: Execution, now_s: float, k: int) -> tuple[str, str]:
        """(kind, reason) of the re-plan due now; ("", "") when none is."""
        if not execution.pending_count:
            return "", ""
        if self._ahead is None:  # else the one under way stands for this one
            given = self._forecast_input(execution, now_s)
            self._ahead = self._peak_off_loop(given)
            if self._ahead is None:
                reason = self._peak_reason(_peak_forecast(given, self._confirm_above_c()))
            else:
                reason = ""
            if reason:
                return "forecast", reason
        i = k - self._trace_from - 1
        if i >= len(self._trace_c) and self._tracing is None:
            # The trace ends here (or there is none: its forecast failed): forecast it again.
            self._reference_trace(execution, now_s)
        elif 0 <= i < len(self._trace_c):
            drift = self.estimate.hottest_c - float(self._trace_c[i])
            if abs(drift) > self.config.drift_threshold_c:
                return "drift", (
                    f"estimated hottest spot {self.estimate.hottest_c:.2f} °C drifts "
                    f"{drift:+.2f} °C from the planned trace "
                    f"(threshold {self.config.drift_threshold_c:g} °C)"
                )
        return "", ""
