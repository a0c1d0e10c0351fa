"""Serial schedule-generation scheme: an activity list becomes a schedule.

Tasks are taken in list order (the list must respect precedence) and each is placed at the
earliest tick at which its predecessors have finished, its release tick has come, every
resource it demands has room for its whole duration, and one of its allowed lanes is free
(Kolisch 1996). Earlier gaps are filled, which is what makes the serial scheme reach every
active schedule — and why it is the scheme for instances without heat.

Thermal instances go to the parallel scheme (`parallel_sgs`), which walks time forward so that
the model state at every start is known: see that module for the check by superposition. So do
instances above `PARALLEL_ABOVE_TASKS`: filling gaps costs the serial scheme a scan of the
schedule per task (quadratic), while the parallel scheme's cost grows with the tasks eligible
at once, and on large graphs the two differ little in makespan.

Everything here is numba-compiled; see `search` for the population that calls it.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from photond.planning.instance import DriftTables, Instance
from photond.planning.parallel_sgs import parallel_thermal_kernel
from photond.planning.thermal_check import INFEASIBLE as INFEASIBLE

PARALLEL_ABOVE_TASKS = 2000


def problem_args(inst: Instance) -> tuple[Any, ...]:
    """The structural arrays the kernels take, in their order."""
    return (
        inst.duration,
        inst.release,
        inst.pred_ptr,
        inst.pred_idx,
        inst.capacity,
        inst.dem_ptr,
        inst.dem_res,
        inst.dem_amt,
        inst.lane_mask,
    )


def reversed_args(inst: Instance) -> tuple[Any, ...]:
    """`problem_args` of the reversed precedence graph (for backward justification)."""
    return (
        inst.duration,
        np.zeros_like(inst.release),
        inst.succ_ptr,
        inst.succ_idx,
        inst.capacity,
        inst.dem_ptr,
        inst.dem_res,
        inst.dem_amt,
        inst.lane_mask,
    )


def thermal_args(inst: Instance) -> tuple[Any, ...]:
    """The thermal arrays and limits (empty and off when the instance ignores heat).

    One tuple, so the kernels take one argument: 0 on/off, 1 decay, 2 task modal input,
    3 task sensor feedthrough, 4 readout (modes, sensors), 5-7 sensor pairs and their inverse
    distances, 8 initial modes, 9 has power, 10 (max rise, max gradient), 11 tail ticks,
    12 pair readout (modes, pairs), 13 task first-period rise, 14-18 the drift rule's tables
    (`_drift_args`).
    """
    th = inst.thermal
    if th is None:
        n = inst.n
        return (
            False,
            np.ones(1),
            np.zeros((n, 1)),
            np.zeros((n, 1)),
            np.zeros((1, 1)),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
            np.zeros(1),
            np.zeros(n, dtype=np.bool_),
            np.array([np.inf, np.inf]),
            0,
            np.zeros((1, 0)),
            np.zeros((n, 1)),
            *_drift_args(None, n, 1),
        )
    return (
        True,
        th.decay,
        th.task_input,
        th.task_feed,
        # Readouts transposed (modes, sensors / pairs): `thermal_check` loops mode-outer.
        np.ascontiguousarray(th.readout.T),
        th.pair_first,
        th.pair_second,
        th.pair_inv_distance_per_mm,
        th.initial_modes,
        th.has_power,
        np.array([th.max_rise_k, th.max_gradient_c_per_mm]),
        th.tail_ticks,
        np.ascontiguousarray((th.readout[th.pair_first] - th.readout[th.pair_second]).T),
        # Each task's own first-period rise per sensor (`thermal_check.first_period_fails`).
        np.ascontiguousarray(th.task_input @ th.readout.T + th.task_feed),
        *_drift_args(th.drift, inst.n, th.decay.shape[0]),
    )


def _drift_args(drift: DriftTables | None, n: int, modes: int) -> tuple[Any, ...]:
    """The drift rule's arrays (every row empty when no task limits its drift)."""
    if drift is None:
        return (
            np.zeros(n + 1, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
            np.zeros((0, modes)),
            np.zeros((n, 0)),
        )
    return (drift.ptr, drift.watch, drift.limit_k, drift.watch_readout, drift.task_watch_feed)


NO_DELAY = np.zeros(0, dtype=np.int64)


def decode(
    inst: Instance,
    order: np.ndarray[Any, Any],
    delay: np.ndarray[Any, Any] | None = None,
) -> tuple[int, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(makespan ticks or -1, start ticks, lanes or -1) of the activity list `order`, each task
    held back `delay` ticks past its earliest readiness (None: no task held back)."""
    start = np.zeros(inst.n, dtype=np.int64)
    lane = np.full(inst.n, -1, dtype=np.int64)
    held = NO_DELAY if delay is None else np.asarray(delay, dtype=np.int64)
    if held.shape[0] not in (0, inst.n):
        raise ValueError(f"delay has {held.shape[0]} entries for {inst.n} tasks")
    makespan = decode_kernel(
        np.asarray(order, dtype=np.int64), problem_args(inst), thermal_args(inst), start, lane, held
    )
    return int(makespan), start, lane


@numba.njit(cache=True)
def _conflict(usage, horizon, t, d, i, lane, cap, dem_ptr, dem_res, dem_amt, lane_base):  # type: ignore[no-untyped-def]
    """The latest tick in [t, t+d) where task i does not fit, or -1 when it fits."""
    hi = min(t + d, horizon)
    worst = -1
    for k in range(dem_ptr[i], dem_ptr[i + 1]):
        r = dem_res[k]
        need = cap[r] - dem_amt[k]
        for tau in range(hi - 1, t - 1, -1):
            if usage[tau, r] > need:
                worst = max(worst, tau)
                break
    if lane >= 0:
        r = lane_base + lane
        for tau in range(hi - 1, t - 1, -1):
            if usage[tau, r] > 0:
                worst = max(worst, tau)
                break
    return worst


@numba.njit(cache=True)
def _earliest(usage, horizon, t0, d, i, cap, dem_ptr, dem_res, dem_amt, lane_mask, lane_base):  # type: ignore[no-untyped-def]
    """(earliest resource-feasible start >= t0, lane): the best over the allowed lanes."""
    lanes = lane_mask.shape[1]
    if lanes == 0:
        t = t0
        while True:
            c = _conflict(usage, horizon, t, d, i, -1, cap, dem_ptr, dem_res, dem_amt, lane_base)
            if c < 0:
                return t, -1
            t = c + 1
    best_t = -1
    best_l = -1
    for lane in range(lanes):
        if not lane_mask[i, lane]:
            continue
        t = t0
        while True:
            c = _conflict(usage, horizon, t, d, i, lane, cap, dem_ptr, dem_res, dem_amt, lane_base)
            if c < 0:
                break
            t = c + 1
        if best_t < 0 or t < best_t:
            best_t = t
            best_l = lane
    return best_t, best_l


@numba.njit(cache=True)
def decode_kernel(order, prob, therm, start, lane_out, delay):  # type: ignore[no-untyped-def]
    """Decode `order` into `start` / `lane_out`; return the makespan in ticks or -1.

    `delay` (ticks per task, or empty) holds each task back past its earliest start by the
    precedences and release: the serial scheme then fills gaps from that time on.
    """
    if therm[0] or order.shape[0] > PARALLEL_ABOVE_TASKS:
        return parallel_thermal_kernel(order, prob, therm, start, lane_out, delay)
    held = delay.shape[0] > 0
    dur, rel, pred_ptr, pred_idx, cap, dem_ptr, dem_res, dem_amt, lane_mask = prob
    n = dur.shape[0]
    resources = cap.shape[0]
    lanes = lane_mask.shape[1]
    width = max(resources + lanes, 1)
    bound = 1
    for i in range(n):
        bound += dur[i]
    horizon = 64
    for i in range(n):
        horizon = max(horizon, rel[i] + dur[i] + 1)
    horizon = min(max(horizon, bound // 4 + 64), bound + 64 + rel.max())
    usage = np.zeros((horizon, width), dtype=np.int32)
    makespan = 0
    for pos in range(n):
        i = order[pos]
        d = dur[i]
        es = rel[i]
        for k in range(pred_ptr[i], pred_ptr[i + 1]):
            p = pred_idx[k]
            es = max(es, start[p] + dur[p])
        if held:
            es += delay[i]
        t, lane = _earliest(
            usage, horizon, es, d, i, cap, dem_ptr, dem_res, dem_amt, lane_mask, resources
        )
        if t + d > horizon:
            grown = max(2 * horizon, t + d + 64)
            bigger = np.zeros((grown, width), dtype=np.int32)
            bigger[:horizon] = usage
            usage = bigger
            horizon = grown
        for k in range(dem_ptr[i], dem_ptr[i + 1]):
            r = dem_res[k]
            a = dem_amt[k]
            for tau in range(t, t + d):
                usage[tau, r] += a
        if lane >= 0:
            for tau in range(t, t + d):
                usage[tau, resources + lane] += 1
        start[i] = t
        lane_out[i] = lane
        makespan = max(makespan, t + d)
    return makespan
