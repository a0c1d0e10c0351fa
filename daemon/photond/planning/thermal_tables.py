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
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from photon_drivers.profile import DeviceProfile
from photond.model import ModelState
from photond.model.loop_model import LoopModel
from photond.model.metrics import (
    BOLTZMANN_EV_PER_K,
    DEFAULT_ACTIVATION_ENERGY_EV,
    DEFAULT_REFERENCE_TEMPERATURE_C,
    KELVIN_OFFSET,
    limit_point_pairs,
)
from photond.planning.instance import DriftTables, ThermalTables
from photond.planning.plan import DEFAULT_MARGIN_C
from photond.planning.superposition import task_tables

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
    readout, _ = model.limit_readout()
    task_input, task_feed = task_tables(model, power_mw)
    pairs = limit_point_pairs(profile)
    taus = model.time_constants_s
    second_tau_s = float(taus[1]) if taus.shape[0] > 1 else 0.0
    tail = max(1, math.ceil(math.log(1 / _SETTLE_FRACTION) * second_tau_s / model.dt_s))
    limits = profile.limits
    initial = state.x[: model.modes] if state is not None else np.zeros(model.modes)
    return ThermalTables(
        decay=np.ascontiguousarray(model.decay),
        task_input=task_input,
        task_feed=task_feed,
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


@dataclass(frozen=True)
class TraceFigures:
    """What the model predicts of a plan over its run and tail, at the limit points."""

    peak_rise_k: float  # the hottest limit point's rise above ambient (0: nothing runs)
    peak_gradient_c_per_mm: float  # the steepest neighbour gradient between sensors
    aging_hours: float  # Arrhenius equivalent hours of the point that ages the most


def trace_figures(
    tables: ThermalTables,
    start_ticks: NDArray[np.int64],
    durations_ticks: NDArray[np.int64],
    tick_s: float,
    *,
    aging: bool = True,
) -> TraceFigures:
    """Play a plan through the model period by period, from its start to the last end plus
    the tail; a task heats every period it occupies, and each period is read at its end.

    Streamed (numba): a 100k-task plan runs ~600k periods over 80 limit points, which as a
    trace array would take ~400 MB for three maxima. `aging=False` skips the Arrhenius sums
    (an exponential per point and period), and reports 0 aging.
    """
    horizon = int((start_ticks + durations_ticks).max(initial=0)) + tables.tail_ticks
    if start_ticks.shape[0] == 0:
        return TraceFigures(0.0, 0.0, 0.0)
    peak, gradient, aging_s = _trace_figures(
        tables.decay,
        tables.task_input,
        tables.task_feed,
        np.ascontiguousarray(tables.readout.T),
        np.minimum(start_ticks, horizon),
        np.minimum(start_ticks + durations_ticks, horizon),
        horizon,
        tables.initial_modes,
        tables.pair_first,
        tables.pair_second,
        tables.pair_inv_distance_per_mm,
        tables.ambient_c + KELVIN_OFFSET,
        DEFAULT_ACTIVATION_ENERGY_EV / BOLTZMANN_EV_PER_K,
        DEFAULT_REFERENCE_TEMPERATURE_C + KELVIN_OFFSET,
        aging,
    )
    return TraceFigures(float(peak), float(gradient), float(aging_s) * tick_s / 3600.0)


@numba.njit(cache=True)
def _trace_figures(  # type: ignore[no-untyped-def]
    decay,
    task_input,
    task_feed,
    readout_t,
    start,
    end,
    steps,
    z0,
    pf,
    ps,
    pinv,
    ambient_k,
    ea_over_kb,
    reference_k,
    with_aging,
):
    """(peak rise, peak gradient, largest Σ Arrhenius factor over points) of tasks powered
    over [start, end); see `model.metrics` for the Arrhenius factor."""
    m = decay.shape[0]
    points = task_feed.shape[1]
    input_delta = np.zeros((steps + 1, m))
    feed_delta = np.zeros((steps + 1, points))
    for i in range(start.shape[0]):
        for q in range(m):
            input_delta[start[i], q] += task_input[i, q]
            input_delta[end[i], q] -= task_input[i, q]
        for r in range(points):
            feed_delta[start[i], r] += task_feed[i, r]
            feed_delta[end[i], r] -= task_feed[i, r]
    z = z0.copy()
    b = np.zeros(m)
    feed = np.zeros(points)
    y = np.empty(points)
    aging = np.zeros(points)
    peak = 0.0
    gradient = 0.0
    for k in range(steps):
        for q in range(m):
            b[q] += input_delta[k, q]
            z[q] = decay[q] * z[q] + b[q]
        for r in range(points):
            feed[r] += feed_delta[k, r]
            y[r] = feed[r]
        for q in range(m):
            zq = z[q]
            for r in range(points):
                y[r] += readout_t[q, r] * zq
        for r in range(points):
            peak = max(peak, y[r])
        if with_aging:
            for r in range(points):
                aging[r] += np.exp(ea_over_kb * (1.0 / reference_k - 1.0 / (ambient_k + y[r])))
        for p in range(pf.shape[0]):
            gradient = max(gradient, abs(y[pf[p]] - y[ps[p]]) * pinv[p])
    return peak, gradient, aging.max() if points else 0.0
