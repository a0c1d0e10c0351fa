"""The drift rule: how far a task's drift tolerance lets its heaters' footprints move, and the
one check of it that the optimiser and the loop's re-time both run.

A task with `drift_tolerance_rad` > 0 has its phases set when it starts; heat it does not make
itself then shifts them by 2π·L·(dn/dT)·ΔT/λ per heater of waveguide length L. The rule
(docs/optimizer.md, §2): at the end of every control period of the task's run, each heater it
drives has a footprint temperature minus the task's own share (its modal response since its
start and its feedthrough) that may differ by at most the ΔT its tolerance allows from that
value at the end of its first period with only the tasks started before it (heat that starts
with it is drift too); read on the full planning model (`thermal_tables.drift_tables`).
`drift_reading_violates` is that reading: the optimiser calls it period by period in
`thermal_check`, the re-time in `drift_holds` (called by `retime.retime`), on the same tables,
so a plan the optimiser accepts is one the re-time accepts.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from photon_drivers.profile import DeviceProfile
from photond.model import phase_drift_rad
from photond.planning.graph import CheckedGraph
from photond.planning.superposition import add_row

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


@njit(cache=True, nogil=True, inline="always")
def own_modes(z_self: FloatArray, a: int, tin: FloatArray, decay: FloatArray, periods: int) -> None:
    """z_self[a] <- a task's own modal state `periods` periods after it started from zero,
    its modal input per period being `tin` (closed form)."""
    for q in range(decay.shape[0]):
        z_self[a, q] = tin[q] * (1.0 - decay[q] ** periods) / (1.0 - decay[q])


@njit(cache=True, nogil=True)
def drift_reading_violates(
    z: FloatArray,
    z_self: FloatArray,
    sens: IntArray,
    sens_start: IntArray,
    sens_end: IntArray,
    n_sens: int,
    k: int,
    wfeed: FloatArray,
    dptr: IntArray,
    dwatch: IntArray,
    dlimit: FloatArray,
    wread: FloatArray,
    twf: FloatArray,
    task_in: FloatArray,
    drift_ref: FloatArray,
    tick_rise: FloatArray,
) -> bool:
    """The drift rule at the end of period k: whether a sensitive task breaks its tolerance.

    `z` is the modal state after period k with everything running in it, `wfeed` the watched
    footprints' feedthrough of the tasks running in it; for each sensitive task sens[a]
    (running over [sens_start[a], sens_end[a])), z_self[a] is its own modal state after
    period k. A watched footprint minus the task's own share is its "other" heat. Its
    reference is the other heat at the end of its first period from the tasks that started
    *before* it: in its first period (k == sens_start[a]) the first-period rise of every task
    starting then (`tick_rise`, `tick_first_rise`; its own taken back out) is taken off. Heat
    that starts with a task is drift it must tolerate, and the reference does not depend on
    the order in which a decoder placed same-tick starts (a plan does not record it). Every
    reading, the first included, must stay within the limit of the reference.
    """
    m = z.shape[0]
    for a in range(n_sens):
        if k >= sens_end[a] or k < sens_start[a]:
            continue
        j = sens[a]
        for e in range(dptr[j], dptr[j + 1]):
            w = dwatch[e]
            other = wfeed[w] - twf[j, w]
            for q in range(m):
                other += wread[w, q] * (z[q] - z_self[a, q])
            if k == sens_start[a]:
                own = twf[j, w]
                for q in range(m):
                    own += wread[w, q] * task_in[j, q]
                drift_ref[e] = other - (tick_rise[w] - own)
            if abs(other - drift_ref[e]) > dlimit[e]:
                return True
    return False


@njit(cache=True, nogil=True)
def tick_first_rise(
    tasks: IntArray,
    starts: IntArray,
    count: int,
    s: int,
    extra: int,
    wread: FloatArray,
    twf: FloatArray,
    task_in: FloatArray,
    out: FloatArray,
) -> None:
    """out <- the first-period rise at each watched footprint of the tasks `tasks[:count]`
    that start at s (`starts`), and of row `extra` (the candidate; none if negative): what
    `drift_reading_violates` takes off a reference recorded in period s."""
    out[:] = 0.0
    for a in range(-1, count):
        if a < 0:
            if extra < 0:
                continue
            j = extra
        elif starts[a] == s:
            j = tasks[a]
        else:
            continue
        for w in range(out.shape[0]):
            rise = twf[j, w]
            for q in range(wread.shape[1]):
                rise += wread[w, q] * task_in[j, q]
            out[w] += rise


@njit(cache=True, nogil=True)
def drift_holds(
    i: int,
    t: int,
    stop: int,
    z: FloatArray,
    modal_in: FloatArray,
    wfeed: FloatArray,
    count: int,
    act_end: IntArray,
    act_task: IntArray,
    act_start: IntArray,
    decay: FloatArray,
    task_in: FloatArray,
    dptr: IntArray,
    dwatch: IntArray,
    dlimit: FloatArray,
    wread: FloatArray,
    twf: FloatArray,
    drift_ref: FloatArray,
    sim_z: FloatArray,
    sim_in: FloatArray,
    sim_feed: FloatArray,
    z_self: FloatArray,
    sens: IntArray,
    sens_start: IntArray,
    sens_end: IntArray,
    record_only: bool,
) -> bool:
    """Whether starting row i at t over [t, stop) keeps every drift-sensitive task in bounds.

    The optimiser's rule (`drift_reading_violates`) played period by period on the full
    model from `z`, the state at t, with `modal_in` and `wfeed` those of the placed tasks
    running at t (`act_*[:count]`, all ending after t; rows of `task_in`/`twf`), and i: from t
    until the last sensitive one ends. Tasks placed later are checked when they are placed.
    `record_only`: only the first period's references are recorded (a task placed anyway).
    """
    n_sens = 0
    last = t
    if dptr[i + 1] > dptr[i] and stop > t:
        sens[0] = i
        sens_start[0] = t
        sens_end[0] = stop
        own_modes(z_self, 0, task_in[i], decay, 0)
        n_sens = 1
        last = stop
    for a in range(count):
        j = act_task[a]
        if dptr[j + 1] > dptr[j] and act_end[a] > t:
            sens[n_sens] = j
            sens_start[n_sens] = act_start[a]
            sens_end[n_sens] = act_end[a]
            own_modes(z_self, n_sens, task_in[j], decay, t - act_start[a])
            n_sens += 1
            last = max(last, act_end[a])
    if n_sens == 0:
        return True
    if record_only:
        last = t + 1
    tick_rise = np.empty(twf.shape[1])
    tick_first_rise(act_task, act_start, count, t, i, wread, twf, task_in, tick_rise)
    m = decay.shape[0]
    for q in range(m):
        sim_z[q] = z[q]
        sim_in[q] = modal_in[q] + task_in[i, q]
    for w in range(sim_feed.shape[0]):
        sim_feed[w] = wfeed[w] + twf[i, w]
    for k in range(t, last):
        # The inputs of period k: a task ending at k no longer heats in it.
        for a in range(count):
            if act_end[a] == k:
                add_row(sim_in, task_in, act_task[a], -1.0)
                add_row(sim_feed, twf, act_task[a], -1.0)
        if stop == k:
            add_row(sim_in, task_in, i, -1.0)
            add_row(sim_feed, twf, i, -1.0)
        for q in range(m):
            sim_z[q] = decay[q] * sim_z[q] + sim_in[q]
        for a in range(n_sens):
            j = sens[a]
            for q in range(m):
                z_self[a, q] = decay[q] * z_self[a, q] + task_in[j, q]
        if drift_reading_violates(
            sim_z, z_self, sens, sens_start, sens_end, n_sens, k, sim_feed,
            dptr, dwatch, dlimit, wread, twf, task_in, drift_ref, tick_rise,
        ) and not record_only:  # fmt: skip
            return False
    return True
