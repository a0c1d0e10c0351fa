"""Re-plan the tasks of a running job that have not started, from the estimated thermal state.

Two steps, so that the loop never waits for a search:

1. `replan` — the immediate re-time, on the loop thread. The current plan's order and lanes
   are kept (they already respect dependencies) and each task, in that order, starts at the
   earliest period at which its lane, heaters and dependencies are free *and* the compact
   model, started from the estimated state, keeps every limit point (heater footprints and
   sensors) at or below the limit and every neighbour gradient below its limit over the task's
   run with everything already placed (`retime.retime`). Tasks may also move
   earlier than planned when the chip runs cooler than predicted. Four re-times of that order
   are made and the shortest within the limits kept: serial (no task before the one ahead of
   it) and parallel (a task held back lets later ones that fit start), each free and anchored
   at the current plan's starts (docs/closed-loop.md, "Forecast and re-plan", says why).
2. `improve` — an anytime search from that plan, off the loop thread, within the closed
   loop's `replan_budget_s`: it moves tasks earlier in the order (never before a dependency)
   and onto other allowed lanes, re-times each candidate with the same kernel from the same
   state, and keeps the shortest remaining makespan that stays within the limit. The loop
   swaps the result in between passes only if, re-timed from the state at swap time, it is
   still shorter and still within the limit (`closed_loop`).

`RemainingProblem` holds the arrays both steps share, built once per re-plan with numpy (no
per-task Python on the loop's path beyond the plan's own records).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from photond.model.loop_model import Estimate
from photond.planning.job_tables import JobForecast
from photond.planning.plan import Plan, PlannedTask
from photond.planning.retime import retime

IntArray = NDArray[np.int64]

PLANNER_NAME = "thermal-retime"
SEARCH_NAME = "thermal-retime+search"
# Periods a task waits for the chip to cool when no placed task ends sooner.
_COOL_PERIODS = 10
# Longest a task waits for thermal room before it is placed anyway (and the peak says so).
_MAX_WAIT_S = 120.0
# Share of the search's moves that change a task's lane rather than its place in the order.
_LANE_MOVES = 0.25
# The parallel re-time (`retime.retime`): how many tasks not yet placed, from the first in
# order, may start at a time (so how many may overtake one held back for heat), and how many
# of them may be tried and fail per time (the optimiser's parallel scheme allows 6).
_PARALLEL_WINDOW = 16
_PARALLEL_FAILS = 6


@dataclass(frozen=True)
class RunningTask:
    task_id: str
    lane_id: str
    ends_in_s: float


@dataclass(frozen=True)
class Remaining:
    """What is left of a job at `elapsed_s` after its start, and what the re-plan must respect.

    Attributes:
        tasks: ids of the tasks not yet started.
        running: tasks running now, with the time they still need.
        forecast: the job's task tables (graph, model) built at its start.
        elapsed_s: now, in seconds after the job's start (plan times are job-relative).
        warm_start: the current plan; its order and lanes are kept.
        limit_c: the hottest limit point a new plan may reach (max temperature - margin).
        max_gradient_c_per_mm: the steepest neighbour gradient a new plan may reach.
    """

    tasks: tuple[str, ...]
    running: tuple[RunningTask, ...]
    forecast: JobForecast
    elapsed_s: float
    warm_start: Plan
    limit_c: float
    max_gradient_c_per_mm: float

    def within_limits(self, peak_c: float, gradient_c_per_mm: float) -> bool:
        """Whether a re-time's peaks keep to the limits (a task that waited `_MAX_WAIT_S` for
        room was placed anyway, and its peak says so)."""
        return (
            peak_c <= self.limit_c + 1e-9 and gradient_c_per_mm <= self.max_gradient_c_per_mm + 1e-9
        )


class RemainingProblem:
    """The remaining tasks as the re-time kernel takes them; rows follow the warm start."""

    def __init__(self, remaining: Remaining, lanes: tuple[str, ...], estimate: Estimate) -> None:
        fc = remaining.forecast
        self.forecast = fc
        self.lanes = lanes
        self._lane_ids = np.array(lanes, dtype=object)
        self.limit_c = remaining.limit_c
        self.max_gradient = remaining.max_gradient_c_per_mm
        self.within_limits = remaining.within_limits
        dt = fc.model.dt_s
        self.now_k = round(remaining.elapsed_s / dt)
        index = fc.index
        left = np.zeros(len(fc.id_array), dtype=bool)
        left[np.fromiter(map(index.__getitem__, remaining.tasks), np.int64)] = True
        warm = fc.plan_rows(remaining.warm_start, lanes)
        kept = left[warm.rows]
        warm_rows = warm.rows[kept]
        if warm_rows.shape[0] != len(remaining.tasks):
            placed = set(warm_rows.tolist())
            missing = sorted(t for t in remaining.tasks if index[t] not in placed)
            raise ValueError(f"the current plan does not place tasks {missing[:5]}")
        lane_pos = {lane: k for k, lane in enumerate(lanes)}
        warm_start_s = warm.start_s[kept]
        warm_lane = warm.lane[kept]
        # Same-tick starts: drift-sensitive tasks last. The drift rule is a difference, not
        # monotone in the tasks placed (heat starting beside a sensitive task may offset a
        # neighbour's cooling), and the re-time checks each task with those placed before it:
        # checked last, a sensitive task is held to exactly what the finished plan gives it,
        # as the optimiser's commit order may have had it (a plan does not record that order).
        sensitive = fc.drift_ptr[warm_rows + 1] > fc.drift_ptr[warm_rows]
        by_start = np.lexsort((fc.id_rank[warm_rows], sensitive, warm_start_s))
        self.rows = rows = warm_rows[by_start]
        self.lane = warm_lane[by_start]
        # Where the current plan starts each row, in periods from now (a start already due
        # is now): the anchored re-time's releases (`replan`).
        self.planned = np.maximum(
            0, np.rint(warm_start_s[by_start] / fc.model.dt_s).astype(np.int64) - self.now_k
        )
        n = rows.shape[0]
        # Lanes and heaters held by running tasks, and when those finish.
        self.lane_free = np.zeros(len(lanes), dtype=np.int64)
        self.heater_free = np.zeros(fc.model.heaters, dtype=np.int64)
        run_rows = np.array([index[r.task_id] for r in remaining.running], dtype=np.int64)
        run_end = np.array(
            [max(0, round(r.ends_in_s / dt)) for r in remaining.running], dtype=np.int64
        )
        for r, g, end in zip(remaining.running, run_rows, run_end, strict=True):
            k = lane_pos[r.lane_id]
            self.lane_free[k] = max(self.lane_free[k], end)
            heaters = fc.heater_idx[fc.heater_ptr[g] : fc.heater_ptr[g + 1]]
            self.heater_free[heaters] = np.maximum(self.heater_free[heaters], end)
        # Heaters and dependencies per local row (CSR), gathered from the job's tables.
        self.heater_ptr, self.heater_idx = _gather(fc.heater_ptr, fc.heater_idx, rows)
        dep_ptr, dep_global = _gather(fc.dep_ptr, fc.dep_idx, rows)
        local = np.full(len(fc.graph.tasks), -1, dtype=np.int64)
        local[rows] = np.arange(n)
        ends_at = np.full(len(fc.graph.tasks), -1, dtype=np.int64)
        ends_at[run_rows] = run_end
        release = np.ceil(fc.release_s[rows] / dt - 1e-9).astype(np.int64) - self.now_k
        self.release = np.maximum(0, release)
        # A dependency still running holds its dependant back until it ends; one already
        # finished holds nothing; one not started stays a dependency edge.
        owner = np.repeat(np.arange(n), np.diff(dep_ptr))
        np.maximum.at(self.release, owner, np.maximum(ends_at[dep_global], 0))
        keep = local[dep_global] >= 0
        self.dep_ptr = np.concatenate(([0], np.cumsum(np.bincount(owner[keep], minlength=n))))
        self.dep_idx = local[dep_global[keep]]
        self.duration = fc.duration[rows]
        self.task_in = np.ascontiguousarray(fc.task_in[rows])
        self.task_feed = np.ascontiguousarray(fc.task_feed[rows])
        self.run_end = run_end
        self.run_in = np.ascontiguousarray(fc.task_in[run_rows])
        self.run_feed = np.ascontiguousarray(fc.task_feed[run_rows])
        self.run_start = run_end - fc.duration[run_rows]
        # The drift rule's entries for the rows, then for the running tasks (full model).
        both = np.concatenate((rows, run_rows))
        entries = np.arange(fc.drift_watch.shape[0], dtype=np.int64)
        self.drift_ptr, at = _gather(fc.drift_ptr, entries, both)
        self.drift_watch = fc.drift_watch[at]
        self.drift_limit = fc.drift_limit_k[at]
        if fc.holds_drift:
            self.drift_feed = np.ascontiguousarray(fc.drift_feed[both])
            self.drift_task_in = np.ascontiguousarray(fc.drift_task_in[both])
        else:
            self.drift_feed, self.drift_task_in = fc.drift_feed, fc.drift_task_in
        self.x0, self.base_in, self.base_feed = fc.base(estimate)
        self.decay, self.out_t = fc.model.decay, fc.limit_out_t
        self.cool_periods = _COOL_PERIODS
        if fc.holds_drift:
            # A job that holds drift is re-timed on the worker thread: its limits too on the
            # optimiser's full model, and a task held back tries again every period, as the
            # optimiser's bisection finds its earliest start. On photond's 240-task study plan
            # re-timed from its idle state, the 6-mode model (82.501 C at a period end the
            # full one keeps at 82.50 C) or 10-period waits turned 16.2 s into 21.0 s.
            self.x0, self.base_in, self.base_feed = fc.full_base(estimate)
            self.decay, self.out_t = fc.full_model.decay, fc.full_limit_out_t
            self.task_in = np.ascontiguousarray(fc.drift_task_in[rows])
            self.task_feed = np.ascontiguousarray(fc.full_task_feed[rows])
            self.run_in = np.ascontiguousarray(fc.drift_task_in[run_rows])
            self.run_feed = np.ascontiguousarray(fc.full_task_feed[run_rows])
            self.cool_periods = 1
        # The drift rule's state now, on the full model (read only when a task holds drift).
        self.drift_x0, self.drift_base_in = self.x0, self.base_in
        self.max_wait = round(_MAX_WAIT_S / dt)

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    def retime(
        self, order: IntArray, lane: IntArray, release: IntArray | None = None
    ) -> tuple[IntArray, float, float]:
        """Start periods (from now) of every row, placed in `order` on `lane`; the peak
        temperature and the peak gradient.

        Two schemes, the better within the limits (`better`): the serial one never starts a
        task before the one ahead of it in `order`, so one task that must wait for the chip
        to cool delays every later one; the parallel one lets later tasks that fit start
        meanwhile, which may in turn delay the one held back. Which is shorter depends on the
        state: photond's 16.20 s plan of the study's 240-task job, re-timed at its start with
        the room 0.5 °C cooler than the model, ended at 20.83 s serial and 17.75 s parallel,
        with the room as modelled at 16.20 and 21.20 s (docs/optimizer.md §2).
        """
        release = self.release if release is None else release
        serial = self.retime_serial(order, lane, release)
        if not self.n:
            return serial
        return self.better(serial, self.retime_parallel(order, lane, release))

    def retime_serial(
        self, order: IntArray, lane: IntArray, release: IntArray
    ) -> tuple[IntArray, float, float]:
        """`retime.retime` in the serial scheme."""
        return self._retime(order, lane, release, 1)

    def retime_parallel(
        self, order: IntArray, lane: IntArray, release: IntArray
    ) -> tuple[IntArray, float, float]:
        """`retime.retime` in the parallel scheme."""
        return self._retime(order, lane, release, _PARALLEL_WINDOW)

    def better(
        self, first: tuple[IntArray, float, float], second: tuple[IntArray, float, float]
    ) -> tuple[IntArray, float, float]:
        """Of two re-times, the one within the limits, else the shorter, else the one whose
        tasks start sooner in sum (`first` on a tie)."""
        first_ok = self.within_limits(first[1], first[2])
        if first_ok != self.within_limits(second[1], second[2]):
            return first if first_ok else second
        key_first = (self.span(first[0]), int(first[0].sum()))
        return second if (self.span(second[0]), int(second[0].sum())) < key_first else first

    def _retime(
        self, order: IntArray, lane: IntArray, release: IntArray, window: int
    ) -> tuple[IntArray, float, float]:
        """`retime.retime` with `window` (1: the serial scheme)."""
        fc = self.forecast
        start, peak, gradient = retime(
            self.decay,
            self.out_t,
            self.x0,
            self.base_in,
            self.base_feed,
            self.limit_c,
            fc.pair_first,
            fc.pair_second,
            fc.pair_inv_mm,
            self.max_gradient,
            order,
            self.duration,
            release,
            lane,
            self.lane_free,
            self.heater_ptr,
            self.heater_idx,
            self.heater_free,
            self.dep_ptr,
            self.dep_idx,
            self.task_in,
            self.task_feed,
            self.run_end,
            self.run_in,
            self.run_feed,
            self.run_start,
            self.drift_ptr,
            self.drift_watch,
            self.drift_limit,
            fc.full_model.decay,
            self.drift_x0,
            self.drift_base_in,
            self.drift_task_in,
            fc.drift_readout,
            self.drift_feed,
            self.cool_periods,
            self.max_wait,
            window,
            _PARALLEL_FAILS,
        )
        if not self.n:
            return start, 0.0, 0.0
        return start, float(peak), float(gradient)

    def span(self, start: IntArray) -> int:
        """Periods from now until the last row ends."""
        return int((start + self.duration).max(initial=0))

    def plan(
        self,
        start: IntArray,
        lane: IntArray,
        peak: tuple[float, float],
        planner: str,
        started_s: float,
    ) -> Plan:
        """The rows at `start` on `lane` as a job-relative plan."""
        fc = self.forecast
        dt = fc.model.dt_s
        start_s = (self.now_k + start) * dt
        end_s = start_s + fc.duration_s[self.rows]
        by_start = np.lexsort((fc.id_rank[self.rows], start_s))
        # Object-array gathers and tuple.__new__ through map: no Python frame per task.
        planned = tuple(
            map(
                tuple.__new__,
                repeat(PlannedTask),
                zip(
                    fc.id_array[self.rows[by_start]].tolist(),
                    self._lane_ids[lane[by_start]].tolist(),
                    start_s[by_start].tolist(),
                    end_s[by_start].tolist(),
                    strict=True,
                ),
            )
        )
        return Plan(
            tasks=planned,
            makespan_s=float(end_s.max()) if self.n else self.now_k * dt,
            lower_bound_s=0.0,
            planner=planner,
            planning_time_s=time.perf_counter() - started_s,
            predicted_peak_temperature_c=peak[0],
            predicted_peak_gradient_c_per_mm=peak[1],
        )


def replan(remaining: Remaining, lanes: tuple[str, ...], estimate: Estimate) -> Plan:
    """The immediate re-time of the remaining tasks (job-relative seconds) from the estimate."""
    started = time.perf_counter()
    problem = RemainingProblem(remaining, lanes, estimate)
    order = np.arange(problem.n, dtype=np.int64)
    serial = problem.retime_serial(order, problem.lane, problem.release)
    best = serial
    if not (remaining.within_limits(serial[1], serial[2]) and (serial[0] <= problem.planned).all()):
        # Some task starts later than planned: the parallel scheme, and both anchored (no
        # task earlier than the current plan starts it: where the plan still keeps every
        # limit from this state that gives it back unchanged, and where one task must wait,
        # the parallel scheme moves that one and what the wait concerns). A serial re-time
        # that delays nothing ends no later than the plan, so than either anchored one.
        anchored = np.maximum(problem.release, problem.planned)
        best = problem.better(problem.retime(order, problem.lane, anchored), serial)
        best = problem.better(best, problem.retime_parallel(order, problem.lane, problem.release))
    start, peak_c, gradient = best
    plan = problem.plan(start, problem.lane, (peak_c, gradient), PLANNER_NAME, started)
    return _with_bound(plan, remaining.warm_start)


def improve(
    remaining: Remaining,
    lanes: tuple[str, ...],
    estimate: Estimate,
    budget_s: float,
    seed: int = 0,
) -> Plan | None:
    """A shorter plan for the remaining tasks found within `budget_s`, or None.

    Local search over the warm start's order and lanes with sideways moves (a candidate as
    long as the incumbent replaces it, so the search walks plateaus); every candidate is
    re-timed by the same kernel from the same state, and only one within the limits counts.
    """
    started = time.perf_counter()
    deadline = started + budget_s
    problem = RemainingProblem(remaining, lanes, estimate)
    n = problem.n
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    order = np.arange(n, dtype=np.int64)
    lane = problem.lane.copy()
    best_span = span = problem.span(problem.retime(order, lane)[0])
    best: tuple[IntArray, IntArray, tuple[float, float]] | None = None
    allowed = _allowed_lanes(problem)
    position = np.arange(n, dtype=np.int64)
    while time.perf_counter() < deadline:
        cand_order, cand_lane = order, lane
        if rng.random() < _LANE_MOVES:
            row = int(rng.integers(n))
            choices = allowed[row]
            if len(choices) < 2:
                continue
            cand_lane = lane.copy()
            cand_lane[row] = choices[int(rng.integers(len(choices)))]
        else:
            i = int(rng.integers(1, n))
            row = int(order[i])
            deps = problem.dep_idx[problem.dep_ptr[row] : problem.dep_ptr[row + 1]]
            earliest = int(position[deps].max()) + 1 if deps.size else 0
            if earliest >= i:
                continue
            j = int(rng.integers(earliest, i))
            cand_order = np.concatenate((order[:j], order[i : i + 1], order[j:i], order[i + 1 :]))
        cand_start, cand_peak, cand_gradient = problem.retime(cand_order, cand_lane)
        cand_span = problem.span(cand_start)
        if not remaining.within_limits(cand_peak, cand_gradient) or cand_span > span:
            continue
        if cand_order is not order:
            position[cand_order] = np.arange(n)
        order, lane, span = cand_order, cand_lane, cand_span
        if span < best_span:
            best, best_span = (cand_start, cand_lane, (cand_peak, cand_gradient)), span
    if best is None:
        return None
    plan = problem.plan(best[0], best[1], best[2], SEARCH_NAME, started)
    return _with_bound(plan, remaining.warm_start)


def _with_bound(plan: Plan, warm: Plan) -> Plan:
    """The job's lower bound stays the one made at submission (it bounds the whole job)."""
    return replace(plan, lower_bound_s=warm.lower_bound_s)


def _allowed_lanes(problem: RemainingProblem) -> list[IntArray]:
    lane_pos = {lane: k for k, lane in enumerate(problem.lanes)}
    every = np.arange(len(problem.lanes), dtype=np.int64)
    tasks = problem.forecast.graph.tasks
    return [
        np.array([lane_pos[x] for x in tasks[g].allowed_lanes], dtype=np.int64)
        if tasks[g].allowed_lanes
        else every
        for g in problem.rows.tolist()
    ]


def _gather(ptr: IntArray, idx: IntArray, rows: IntArray) -> tuple[IntArray, IntArray]:
    """The CSR rows `rows` of (ptr, idx), as a CSR of their own."""
    counts = ptr[rows + 1] - ptr[rows]
    out_ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=out_ptr[1:])
    offsets = np.arange(int(out_ptr[-1]), dtype=np.int64) - np.repeat(out_ptr[:-1], counts)
    return out_ptr, idx[np.repeat(ptr[rows], counts) + offsets]
