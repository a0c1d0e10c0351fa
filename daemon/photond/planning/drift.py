"""The drift rule: how far a task's drift tolerance lets its heaters' footprints move, and the
re-time's check of it.

A task with `drift_tolerance_rad` > 0 has its phases set when it starts; heat it does not make
itself then shifts them by 2π·L·(dn/dT)·ΔT/λ per heater of waveguide length L. The optimiser
(`thermal_tables.drift_tables`, checked in `thermal_check`) and the loop's re-time
(`drift_holds`, called by `retime.retime`) both hold a task to the ΔT this allows on each heater
it drives (the rule is in docs/optimizer.md, §2).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from photon_drivers.profile import DeviceProfile
from photond.model import phase_drift_rad
from photond.planning.graph import CheckedGraph
from photond.planning.superposition import add_row, advance_modes

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def drift_limits_k(
    graph: CheckedGraph, profile: DeviceProfile, heater_ids: tuple[str, ...]
) -> FloatArray | None:
    """(tasks, heaters in `heater_ids` order) footprint-temperature change each task's drift
    tolerance allows.

    At the shortest wavelength among the task's lanes (the largest phase per kelvin: the bound
    holds on any of them). inf where a task has no tolerance; None when no task has one.
    """
    tolerance = np.fromiter((t.drift_tolerance_rad for t in graph.tasks), dtype=np.float64)
    if not (tolerance > 0).any():
        return None
    length_mm = {h.id: h.waveguide_length_mm for h in profile.heaters}
    lengths = np.array([length_mm[h] for h in heater_ids])
    wavelength = {lane.id: lane.wavelength_nm for lane in profile.lanes}
    shortest_nm = np.array(
        [min(wavelength[lane] for lane in (t.allowed_lanes or wavelength)) for t in graph.tasks]
    )
    rad_per_k = phase_drift_rad(1.0, lengths[None, :], wavelength_nm=1.0) / shortest_nm[:, None]
    return np.where(tolerance[:, None] > 0, tolerance[:, None] / rad_per_k, np.inf)


@njit(cache=True, nogil=True)
def own_footprint(
    out_t: FloatArray, decay: FloatArray, tin: FloatArray, feed: FloatArray, h: int, age: int
) -> float:
    """A task's own share of heater h's footprint `age` periods after it started (from zero)."""
    own = feed[h]
    for q in range(decay.shape[0]):
        own += out_t[q, h] * tin[q] * (1.0 - decay[q] ** age) / (1.0 - decay[q])
    return float(own)


@njit(cache=True, nogil=True)
def drift_holds(
    i: int,
    t: int,
    stop: int,
    x: FloatArray,
    modal_in: FloatArray,
    feed: FloatArray,
    decay: FloatArray,
    out_t: FloatArray,
    task_in: FloatArray,
    task_feed: FloatArray,
    count: int,
    act_end: IntArray,
    act_in: FloatArray,
    act_feed: FloatArray,
    act_task: IntArray,
    act_start: IntArray,
    drift_ptr: IntArray,
    drift_heater: IntArray,
    drift_limit: FloatArray,
    drift_ref: FloatArray,
    sim_x: FloatArray,
    sim_in: FloatArray,
    sim_feed: FloatArray,
) -> bool:
    """Whether starting task i at t over [t, stop) keeps every drift-tolerant task in bounds.

    For each tolerant task s running from t on (i included), each heater it drives: the
    footprint temperature minus s's own share may move from its reference (i's is recorded
    here, at t) by at most its limit, period by period until s ends, with every task placed so
    far and i. Tasks placed later are checked when they are placed.
    """
    n_sens = 0
    last = t
    for a in range(count):
        if drift_ptr[act_task[a] + 1] > drift_ptr[act_task[a]] and act_end[a] > t:
            n_sens += 1
            last = max(last, act_end[a])
    i_sens = drift_ptr[i + 1] > drift_ptr[i] and stop > t
    if i_sens:
        last = max(last, stop)
    if n_sens == 0 and not i_sens:
        return True
    for q in range(sim_x.shape[0]):
        sim_x[q] = x[q]
        sim_in[q] = modal_in[q] + task_in[i, q]
    for o in range(sim_feed.shape[0]):
        sim_feed[o] = feed[o] + task_feed[i, o]
    for k in range(t, last):
        if k > t:
            advance_modes(sim_x, decay, sim_in, 1)
        for a in range(count):
            if act_end[a] == k:
                add_row(sim_in, act_in, a, -1.0)
                add_row(sim_feed, act_feed, a, -1.0)
        if stop == k:
            add_row(sim_in, task_in, i, -1.0)
            add_row(sim_feed, task_feed, i, -1.0)
        for a in range(-1, count):
            if a < 0:
                if not i_sens or k >= stop:
                    continue
                row, s0, tin, tfeed = i, t, task_in[i], task_feed[i]
            else:
                row = act_task[a]
                if drift_ptr[row + 1] == drift_ptr[row] or k >= act_end[a]:
                    continue
                s0, tin, tfeed = act_start[a], act_in[a], act_feed[a]
            for e in range(drift_ptr[row], drift_ptr[row + 1]):
                h = drift_heater[e]
                total = sim_feed[h]
                for q in range(sim_x.shape[0]):
                    total += out_t[q, h] * sim_x[q]
                other = total - own_footprint(out_t, decay, tin, tfeed, h, k - s0)
                if a < 0 and k == t:
                    drift_ref[e] = other
                elif abs(other - drift_ref[e]) > drift_limit[e]:
                    return False
    return True
