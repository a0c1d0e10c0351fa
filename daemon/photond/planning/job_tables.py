"""One job's tasks in the form the forecasts need, built once when the job starts.

A forecast or a re-plan runs many times per job and must cost milliseconds, so everything that
depends only on the graph is computed up front: each task's duration in control periods, its
heaters (as indices), its dependencies (as indices), and its modal input and feedthrough at the
limit points (every heater's footprint and every sensor) under the forecast model. A forecast
then only gathers rows for the tasks that are left. Times here are whole control periods counted
from "now" (period 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from photond.model.loop_model import FORECAST_MODES, Estimate, LoopModel
from photond.planning.graph import CheckedGraph
from photond.planning.plan import Plan
from photond.planning.retime import forecast_peak
from photond.planning.sharded_map import ShardedMap
from photond.planning.superposition import task_tables
from photond.planning.thermal_tables import drift_tables

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Forecast:
    """The hottest limit point a forecast expects, when, and (optionally) its per-period trace."""

    peak_c: float
    peak_in_s: float
    trace_c: FloatArray


@dataclass(frozen=True)
class PlanRows:
    """A plan's tasks as table rows (`JobForecast.plan_rows`)."""

    rows: IntArray
    start_s: FloatArray
    lane: IntArray


class JobForecast:
    """Per-job task tables for `forecast` and `replan`; see the module docstring."""

    def __init__(
        self, graph: CheckedGraph, model: LoopModel, drift_limit_k: FloatArray | None = None
    ) -> None:
        """`drift_limit_k` (tasks, heaters): what each task's drift tolerance allows its
        heaters' footprints to move (`drift.drift_limits_k`); None holds no task to one."""
        self.graph = graph
        self.full_model = model
        self.model = model.truncated(min(FORECAST_MODES, model.modes))
        m = self.model
        dt = m.dt_s
        tasks = graph.tasks
        n = len(tasks)
        # Built for a 100k-task job on a submission's thread while the device loop runs: no
        # single call may hold the interpreter over every task (numpy converting a list of
        # 100k objects, or page-faulting a 50 MB table, holds it 5-60 ms and the loop then
        # misses periods: benchmarks/loop_stall.py). Per-task values come through generators,
        # whose frames let other threads in; whole-array conversions run a chunk at a time.
        ids = [t.id for t in tasks]
        self.index: ShardedMap[str, int] = ShardedMap((task_id, i) for i, task_id in enumerate(ids))
        self.id_array = np.fromiter((task_id for task_id in ids), dtype=object, count=n)
        # Rank of each id in sorted order: plans list tasks by (start, id), sorted with numpy.
        self.id_rank = _rank(ids)
        self.duration_s = np.fromiter((t.duration_s for t in tasks), np.float64, n)
        heater_pos = {h: k for k, h in enumerate(m.heater_ids)}
        # Whole periods, at least one (the same float division and ceiling, per element).
        self.duration = np.maximum(1, np.ceil(self.duration_s / dt - 1e-9)).astype(np.int64)
        self.release_s = np.fromiter((t.release_time_s for t in tasks), np.float64, n)
        self.heater_ptr = _pointers(len(t.heater_power_mw) for t in tasks)
        count = int(self.heater_ptr[-1])
        self.heater_idx = np.fromiter(
            (heater_pos[h] for t in tasks for h in t.heater_power_mw), np.int64, count
        )
        power_mw = np.fromiter(
            (p for t in tasks for p in t.heater_power_mw.values()), np.float64, count
        )
        power = np.zeros((n, m.heaters))
        rows = np.repeat(np.arange(n), np.diff(self.heater_ptr))
        for k in range(0, count, _CHUNK):  # first writes: the table's pages fault in here
            power[rows[k : k + _CHUNK], self.heater_idx[k : k + _CHUNK]] = power_mw[k : k + _CHUNK]
        index = self.index
        self.dep_ptr = _pointers(len(t.depends_on) for t in tasks)
        self.dep_idx = np.fromiter(
            (index[d] for t in tasks for d in t.depends_on), np.int64, int(self.dep_ptr[-1])
        )
        # Read at the limit points (every footprint, then every sensor), as the optimiser is.
        limit_out, self._limit_feed = m.limit_readout()
        self.task_in, self.task_feed = task_tables(m, power)
        # The kernels read the limit points mode-outer (`retime._hottest`).
        self.limit_out_t = np.ascontiguousarray(limit_out.T)
        pairs = m.limit_pairs
        self.pair_first, self.pair_second = pairs.first, pairs.second
        self.pair_inv_mm = np.ascontiguousarray(1.0 / pairs.distance_mm)
        # The drift rule's tables, on the full model as the optimiser reads it (one rule:
        # `drift.drift_reading_violates`), and for a job that holds drift the full model's
        # task tables and readout too: its re-time (on the worker thread) checks the limits
        # on the optimiser's model as well, so that what the optimiser placed it places.
        self.drift = None if drift_limit_k is None else drift_tables(model, power, drift_limit_k)
        drift = self.drift
        if drift is None:
            self.drift_ptr = np.zeros(len(tasks) + 1, dtype=np.int64)
            self.drift_watch = np.zeros(0, dtype=np.int64)
            self.drift_limit_k = np.zeros(0)
            # No rows: the re-time reads these only when a task holds drift.
            self.drift_readout = np.zeros((0, model.modes))
            self.drift_feed = np.zeros((0, 0))
            self.drift_task_in = np.zeros((0, model.modes))
            self.full_task_feed = np.zeros((0, 0))
            self.full_limit_out_t = np.zeros((0, 0))
            self._full_limit_feed = np.zeros((0, 0))
        else:
            self.drift_ptr, self.drift_watch = drift.ptr, drift.watch
            self.drift_limit_k = drift.limit_k
            self.drift_readout, self.drift_feed = drift.watch_readout, drift.task_watch_feed
            self.drift_task_in, self.full_task_feed = task_tables(model, power)
            full_out, self._full_limit_feed = model.limit_readout()
            self.full_limit_out_t = np.ascontiguousarray(full_out.T)

        self._placed: tuple[Plan, tuple[str, ...], PlanRows] | None = None

    def plan_rows(self, plan: Plan, lanes: tuple[str, ...]) -> PlanRows:
        """`plan`'s tasks as rows of the tables, their starts and their lanes (indices into
        `lanes`), in the plan's order. The last plan's are kept: the loop re-plans from the same
        plan pass after pass, and gathering a thousand tasks by id costs a millisecond.
        """
        placed = self._placed
        if placed is not None and placed[0] is plan and placed[1] == lanes:
            return placed[2]
        lane_pos = {lane: k for k, lane in enumerate(lanes)}
        index = self.index
        tasks = plan.tasks
        rows = PlanRows(
            rows=np.fromiter((index[p.task_id] for p in tasks), np.int64, len(tasks)),
            start_s=np.fromiter((p.start_s for p in tasks), np.float64, len(tasks)),
            lane=np.fromiter((lane_pos[p.lane_id] for p in tasks), np.int64, len(tasks)),
        )
        self._placed = (plan, lanes, rows)
        return rows

    @property
    def holds_drift(self) -> bool:
        """Whether some task of the job limits its drift (the re-time then plays it per period)."""
        return bool(self.drift_ptr[-1] > 0)

    def base(self, estimate: Estimate) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(x0, constant modal input, constant feedthrough) from the estimated state.

        The estimate's fast modes beyond the forecast model's are dropped: they settle within
        a period. The ambient offset is held constant over the forecast.
        """
        m = self.model
        x0 = np.ascontiguousarray(estimate.state.x[: m.modes])
        offset = estimate.ambient_offset_c
        base_in = np.ascontiguousarray(m.input_gain[:, -1] * offset)
        base_feed = np.ascontiguousarray(m.ambient_c + self._limit_feed[:, -1] * offset)
        return x0, base_in, base_feed

    def full_base(self, estimate: Estimate) -> tuple[FloatArray, FloatArray, FloatArray]:
        """`base` on the full model (a job that holds drift: `full_task_feed` is built)."""
        full = self.full_model
        x0 = np.ascontiguousarray(estimate.state.x[: full.modes], dtype=np.float64)
        offset = estimate.ambient_offset_c
        base_in = np.ascontiguousarray(full.input_gain[:, -1] * offset)
        base_feed = np.ascontiguousarray(full.ambient_c + self._full_limit_feed[:, -1] * offset)
        return x0, base_in, base_feed

    def forecast(
        self,
        estimate: Estimate,
        tasks: list[tuple[int, int]],
        running: list[tuple[int, int]],
        trace_periods: int = 0,
    ) -> Forecast:
        """Forecast `tasks` (index, start period) after `running` (index, end period)."""
        rows = np.array([i for i, _ in running] + [i for i, _ in tasks], dtype=np.int64)
        start = np.array([0] * len(running) + [s for _, s in tasks], dtype=np.int64)
        end = np.array(
            [e for _, e in running] + [s + int(self.duration[i]) for i, s in tasks],
            dtype=np.int64,
        )
        return self.forecast_rows(estimate, rows, start, end, trace_periods)

    def forecast_rows(
        self,
        estimate: Estimate,
        rows: IntArray,
        start: IntArray,
        end: IntArray,
        trace_periods: int = 0,
    ) -> Forecast:
        """`forecast` for tasks as arrays: table rows, start and end periods (a running task
        starts at 0)."""
        x0, base_in, base_feed = self.base(estimate)
        trace = np.zeros(trace_periods)
        peak, at = forecast_peak(
            self.model.decay,
            self.limit_out_t,
            x0,
            base_in,
            base_feed,
            start,
            end,
            self.task_in[rows],
            self.task_feed[rows],
            trace,
        )
        return Forecast(float(peak), at * self.model.dt_s, trace)


# Items per call that converts or writes part of a job's table (`JobForecast`): ~1 ms.
_CHUNK = 4096


def _pointers(counts: Iterator[int]) -> IntArray:
    """CSR pointers (0, then running totals) of per-task `counts`."""
    counted = np.fromiter(counts, np.int64)
    pointers = np.zeros(counted.size + 1, dtype=np.int64)
    np.cumsum(counted, out=pointers[1:])
    return pointers


def _rank(ids: list[str]) -> IntArray:
    """Each id's rank in code-point order, as Python's `sorted` puts them.

    Sorted as fixed-width text, not objects: numpy sorts that without holding the GIL (an
    object sort of 100k ids holds it ~100 ms); the text is made a chunk at a time, for the same
    reason. numpy pads the text with NULs and compares it so, which would tie "a" and "a\\x00":
    every character is moved up by one first, so that the padding sorts below all of them.
    """
    lengths = np.fromiter((len(i) for i in ids), np.int64, len(ids))
    width = max(1, int(lengths.max(initial=0)))
    text = np.empty(len(ids), dtype=f"<U{width}")
    columns = np.arange(width)
    for k in range(0, len(ids), _CHUNK):
        text[k : k + _CHUNK] = ids[k : k + _CHUNK]
        code_points = text[k : k + _CHUNK].view(np.uint32).reshape(-1, width)
        code_points += columns < lengths[k : k + _CHUNK, None]
    return np.argsort(np.argsort(text, kind="stable"))
