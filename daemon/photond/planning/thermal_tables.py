"""Fold the planning model into per-task tables the decoder can superpose.

A task that drives heater powers p (mW) for a control period adds `b @ p` to the model's modes
and `D @ p` to the instantaneous rise at every limit point (each heater's footprint, then each
sensor: where the limits are enforced, docs/architecture.md); both are computed once per task
here, so the decoder's inner loop is a sum of a few vectors and one small matrix product per
tick. The model is the closed loop's own (`model.loop_model`, every mode: the observer's; the
loop's forecasts run its truncation), read at the same points: a plan the optimiser calls safe
is safe by the loop's forecast up to that truncation, which the planning margin covers.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from photon_drivers.profile import DeviceProfile
from photond.model import ModelState
from photond.model.loop_model import LoopModel
from photond.model.metrics import limit_point_pairs
from photond.planning.instance import DriftTables, ThermalTables
from photond.planning.plan import DEFAULT_MARGIN_C

FloatArray = NDArray[np.float64]

# Ticks checked after the last power change: until the second-slowest mode decays to 1e-3.
_SETTLE_FRACTION = 1e-3


def thermal_tables(
    model: LoopModel,
    profile: DeviceProfile,
    power_mw: FloatArray,
    durations_ticks: NDArray[np.int64],
    *,
    state: ModelState | None = None,
    margin_c: float = DEFAULT_MARGIN_C,
    drift_limit_k: FloatArray | None = None,
) -> ThermalTables:
    """Tables for tasks with heater powers `power_mw` (tasks, heaters), in model heater order.

    The room is taken at the profile's ambient (offset 0). `state` may come from a model with
    more modes: its fast modes, which the planning model residualises, are dropped.
    `drift_limit_k` (tasks, heaters): the largest footprint-temperature change from other heat
    each task tolerates on each of its heaters (inf: no limit).
    """
    readout, feedthrough = model.limit_readout()
    pairs = limit_point_pairs(profile)
    taus = model.time_constants_s
    second_tau_s = float(taus[1]) if taus.shape[0] > 1 else 0.0
    tail = max(1, math.ceil(math.log(1 / _SETTLE_FRACTION) * second_tau_s / model.dt_s))
    limits = profile.limits
    initial = state.x[: model.modes] if state is not None else np.zeros(model.modes)
    heater_gain = model.input_gain[:, :-1]
    return ThermalTables(
        decay=np.ascontiguousarray(model.decay),
        task_input=np.ascontiguousarray(power_mw @ heater_gain.T),
        task_feed=np.ascontiguousarray(power_mw @ feedthrough[:, :-1].T),
        readout=np.ascontiguousarray(readout),
        pair_first=pairs.first.astype(np.int64),
        pair_second=pairs.second.astype(np.int64),
        pair_inv_distance_per_mm=1.0 / pairs.distance_mm,
        max_rise_k=limits.max_device_temperature_c - model.ambient_c - margin_c,
        max_gradient_c_per_mm=limits.max_thermal_gradient_c_per_mm * (1 - 1e-3),
        tail_ticks=tail,
        initial_modes=np.asarray(initial, dtype=np.float64).copy(),
        has_power=(power_mw.sum(axis=1) > 0) & (durations_ticks > 0),
        drift=None if drift_limit_k is None else drift_tables(model, power_mw, drift_limit_k),
        ambient_c=model.ambient_c,
    )


def drift_tables(
    model: LoopModel, power_mw: FloatArray, drift_limit_k: FloatArray
) -> DriftTables | None:
    """The drift rule's tables (None when no task limits drift on a heater it drives)."""
    limited = np.isfinite(drift_limit_k) & (power_mw > 0)
    if not limited.any():
        return None
    watched = np.flatnonzero(limited.any(axis=0))
    column = np.full(power_mw.shape[1], -1, dtype=np.int64)
    column[watched] = np.arange(watched.size)
    task_of, heater = np.nonzero(limited)
    ptr = np.zeros(power_mw.shape[0] + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(task_of, minlength=power_mw.shape[0]))
    readout, feedthrough = model.hotspot_out, model.hotspot_feed[:, :-1]
    return DriftTables(
        ptr=ptr,
        watch=column[heater],
        limit_k=np.ascontiguousarray(drift_limit_k[task_of, heater], dtype=np.float64),
        watch_readout=np.ascontiguousarray(readout[watched]),
        task_watch_feed=np.ascontiguousarray(power_mw @ feedthrough[watched].T),
    )


def predicted_trace_c(
    tables: ThermalTables,
    start_ticks: NDArray[np.int64],
    durations_ticks: NDArray[np.int64],
    horizon_ticks: int,
    ambient_c: float,
) -> FloatArray:
    """(ticks, limit points) °C the model predicts for a plan, for its peak, gradient, aging.

    Row k is read at the end of control period k; a task heats every period it occupies.
    """
    ends = np.minimum(start_ticks + durations_ticks, horizon_ticks)
    modes, feed = _piecewise_trace(
        tables.decay,
        tables.task_input,
        tables.task_feed,
        np.minimum(start_ticks, horizon_ticks),
        ends,
        horizon_ticks,
        tables.initial_modes,
    )
    return np.asarray(ambient_c + modes @ tables.readout.T + feed)


@numba.njit(cache=True)
def _piecewise_trace(decay, task_input, task_feed, start, end, steps, z0):  # type: ignore[no-untyped-def]
    """Modal states and summed feedthrough per period of tasks powered over [start, end)."""
    m = decay.shape[0]
    sensors = task_feed.shape[1]
    input_delta = np.zeros((steps + 1, m))
    feed = np.zeros((steps + 1, sensors))
    for i in range(start.shape[0]):
        for q in range(m):
            input_delta[start[i], q] += task_input[i, q]
            input_delta[end[i], q] -= task_input[i, q]
        for r in range(sensors):
            feed[start[i], r] += task_feed[i, r]
            feed[end[i], r] -= task_feed[i, r]
    out = np.empty((steps, m))
    z = z0.copy()
    b = np.zeros(m)
    for k in range(steps):
        for q in range(m):
            b[q] += input_delta[k, q]
            z[q] = decay[q] * z[q] + b[q]
            out[k, q] = z[q]
        if k:
            for r in range(sensors):
                feed[k, r] += feed[k - 1, r]
    return out, feed[:steps]
