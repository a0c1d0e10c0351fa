"""The thermal check by superposition: does starting a task at s keep the device in its limits?

The model state at the *frontier* tick is known, with the heating tasks still running then and
their end ticks. Starting task i at s >= frontier is checked by playing that committed power
plus task i's over [s, s+d) through the exactly discretised modes (z <- a * z + sum of B p),
reading every sensor (C z + sum of D p) and every neighbour gradient from s until every task
has ended plus a tail (the fast modes' settling). By linearity this is the superposition of the
tasks' step responses, and it is exact for the discretised model.

Power is constant between events (a start or an end), and over such an interval of L periods
each mode moves geometrically from where it starts towards its steady value:
z_q(j) = z∞_q + (z_q(0) - z∞_q) a_q^j. So each mode's term in a sensor reading is monotone over
the interval and bounded by its value at one end; the sum of those per-mode maxima bounds the
sensor over the whole interval (and likewise each neighbour difference, both signs). When that
bound is inside the limits, the interval passes at the cost of one reading and the state jumps
to its end in closed form; only an interval whose bound crosses a limit is played period by
period, which finds the first violating period exactly. Waiting with nothing heating is the
same closed-form jump, so any wait length costs the same.

Most candidates on a hot device fail in their very first period, so the decoder asks
`first_period_fails` first: one reading of the committed tasks per event time plus the
candidate's own precomputed first-period rise. Intervals in which a drift-sensitive task runs
are played period by period with its heaters' footprints read too (`_first_drift_violation`;
the rule, which the loop's re-time shares, is `drift.drift_reading_violates`, docs/optimizer.md
§2).
"""

from __future__ import annotations

import numba
import numpy as np

from photond.planning.drift import (
    drift_reading_violates,
    own_modes,
    tick_first_rise,
)
from photond.planning.superposition import advance_modes

INFEASIBLE = -1


@numba.njit(cache=True)
def infeasible(task):  # type: ignore[no-untyped-def]
    """The decoder's result when `task` can never start within the limits (below INFEASIBLE)."""
    return INFEASIBLE - 1 - task


def infeasible_task(result: int) -> int | None:
    """The task an `infeasible` result names, or None for a plain INFEASIBLE or a makespan."""
    return INFEASIBLE - 1 - result if result < INFEASIBLE else None


# A wait this long means the task cannot run at all (it would not fit even from ambient).
MAX_WAIT_TICKS = 1 << 40
# Intervals shorter than this are played period by period: a bound costs about as much as
# eight periods (a reading per mode end instead of one per period).
_BOUND_ABOVE_TICKS = 8


@numba.njit(cache=True, inline="always")
def _add_task(bsum, fsum, tin, tfeed, j):  # type: ignore[no-untyped-def]
    """Add task j's modal input and sensor feedthrough (explicit loops: no temporaries)."""
    for q in range(bsum.shape[0]):
        bsum[q] += tin[j, q]
    for r in range(fsum.shape[0]):
        fsum[r] += tfeed[j, r]


@numba.njit(cache=True, inline="always")
def _interval_within(z, decay, bsum, fsum, ticks, therm, work):  # type: ignore[no-untyped-def]
    """Whether the per-mode bound keeps every reading of the next `ticks` periods in limits.

    Loops run mode-outer, sensor-inner over transposed readouts so that the inner loops
    vectorise while each sensor still sums its modes in order.
    """
    readout_t, pf, ps, pinv, pair_t = therm[4], therm[5], therm[6], therm[7], therm[12]
    max_rise, max_grad = therm[10][0], therm[10][1]
    sensors, pairs = fsum.shape[0], pf.shape[0]
    acc = work[0, :sensors]
    mean = work[1, :pairs]
    up = work[2, :pairs]
    down = work[3, :pairs]
    acc[:] = fsum
    for p in range(pairs):
        mean[p] = fsum[pf[p]] - fsum[ps[p]]
        up[p] = 0.0
        down[p] = 0.0
    for q in range(z.shape[0]):
        steady = bsum[q] / (1.0 - decay[q])
        excess = z[q] - steady
        first = excess * decay[q]
        last = excess * decay[q] ** ticks
        for r in range(sensors):
            c = readout_t[q, r]
            acc[r] += c * steady + max(c * first, c * last)
        for p in range(pairs):
            c = pair_t[q, p]
            mean[p] += c * steady
            up[p] += max(c * first, c * last)
            down[p] += max(-c * first, -c * last)
    for r in range(sensors):
        if acc[r] > max_rise:
            return False
    for p in range(pairs):  # noqa: SIM110 (an explicit loop: numba kernel)
        if max(mean[p] + up[p], down[p] - mean[p]) * pinv[p] > max_grad:
            return False
    return True


@numba.njit(cache=True, inline="always")
def _reading_violates(z, fsum, therm, y):  # type: ignore[no-untyped-def]
    """Read every sensor from `z` into `y`; whether a temperature or gradient limit breaks."""
    readout_t, pf, ps, pinv = therm[4], therm[5], therm[6], therm[7]
    max_rise, max_grad = therm[10][0], therm[10][1]
    sensors = y.shape[0]
    y[:] = fsum
    for q in range(z.shape[0]):
        zq = z[q]
        for r in range(sensors):
            y[r] += readout_t[q, r] * zq
    for r in range(sensors):
        if y[r] > max_rise:
            return True
    for p in range(pf.shape[0]):  # noqa: SIM110 (an explicit loop: numba kernel)
        if abs(y[pf[p]] - y[ps[p]]) * pinv[p] > max_grad:
            return True
    return False


@numba.njit(cache=True, inline="always")
def _first_violation(z, decay, bsum, fsum, k, ticks, therm, work):  # type: ignore[no-untyped-def]
    """Play `ticks` periods from period k one by one; the first violating period or -1."""
    y = work[0, : fsum.shape[0]]
    for j in range(ticks):
        for q in range(z.shape[0]):
            z[q] = decay[q] * z[q] + bsum[q]
        if _reading_violates(z, fsum, therm, y):
            return k + j
    return -1


@numba.njit(cache=True)
def _first_drift_violation(  # type: ignore[no-untyped-def]
    z,
    decay,
    bsum,
    fsum,
    k,
    ticks,
    therm,
    work,
    sens,
    n_sens,
    sens_start,
    wfeed,
    drift_ref,
    tick_rise,
):
    """`_first_violation` that also holds drift-sensitive tasks to their tolerance.

    Every period of the interval, after the limits, the drift rule's reading
    (`drift.drift_reading_violates`) for each sensitive task j running (`sens[:n_sens]`,
    started at `sens_start`), its own modal response played alongside; references are
    recorded in each task's first period (the candidate i's at s), without the first-period
    rise `tick_rise` of what starts then.
    """
    tin = therm[2]
    dptr, dwatch, dlimit, wread, twf = therm[14], therm[15], therm[16], therm[17], therm[18]
    m = z.shape[0]
    y = work[0, : fsum.shape[0]]
    z_self = np.empty((n_sens, m))
    # Every sensitive task runs through the interval (its end bounds it).
    sens_end = np.full(n_sens, k + ticks, dtype=np.int64)
    for a in range(n_sens):
        own_modes(z_self, a, tin[sens[a]], decay, k - sens_start[a])
    for step in range(ticks):
        kk = k + step
        for q in range(m):
            z[q] = decay[q] * z[q] + bsum[q]
        for a in range(n_sens):
            for q in range(m):
                z_self[a, q] = decay[q] * z_self[a, q] + tin[sens[a], q]
        if _reading_violates(z, fsum, therm, y):
            return kk
        if drift_reading_violates(
            z, z_self, sens, sens_start, sens_end, n_sens, kk, wfeed,
            dptr, dwatch, dlimit, wread, twf, tin, drift_ref, tick_rise,
        ):  # fmt: skip
            return kk
    return -1


@numba.njit(cache=True)
def advance(z, k, until, act_end, act_task, n_act, therm):  # type: ignore[no-untyped-def]
    """Play the committed tasks' power from tick k to `until` on the modal state `z`.

    Nothing is read on the way, so each interval of constant power is one closed-form jump.
    """
    decay, tin = therm[1], therm[2]
    bsum = np.empty(decay.shape[0])
    while k < until:
        k_end = until
        bsum[:] = 0.0
        for a in range(n_act):
            if act_end[a] > k:
                j = act_task[a]
                for q in range(bsum.shape[0]):
                    bsum[q] += tin[j, q]
                k_end = min(k_end, act_end[a])
        advance_modes(z, decay, bsum, k_end - k)
        k = k_end


@numba.njit(cache=True)
def committed_first_period(z, t, act_end, act_task, n_act, therm, y):  # type: ignore[no-untyped-def]
    """Sensor rise at the end of period t from the state `z` at t and the committed tasks.

    A candidate's own first period adds `therm[13][i]` (its modal input read out plus its
    feedthrough) to this, so one reading per event time serves every candidate's first period.
    """
    decay, tin, tfeed, readout_t = therm[1], therm[2], therm[3], therm[4]
    m = decay.shape[0]
    bsum = np.zeros(m)
    y[:] = 0.0
    for a in range(n_act):
        if act_end[a] > t:
            j = act_task[a]
            for q in range(m):
                bsum[q] += tin[j, q]
            for r in range(y.shape[0]):
                y[r] += tfeed[j, r]
    for q in range(m):
        zq = decay[q] * z[q] + bsum[q]
        for r in range(y.shape[0]):
            y[r] += readout_t[q, r] * zq


@numba.njit(cache=True)
def first_period_fails(y_committed, i, therm):  # type: ignore[no-untyped-def]
    """Whether task i started now breaks a limit in its first period (see above)."""
    first, pf, ps, pinv = therm[13], therm[5], therm[6], therm[7]
    max_rise, max_grad = therm[10][0], therm[10][1]
    for r in range(y_committed.shape[0]):
        if y_committed[r] + first[i, r] > max_rise:
            return True
    for p in range(pf.shape[0]):
        diff = y_committed[pf[p]] + first[i, pf[p]] - y_committed[ps[p]] - first[i, ps[p]]
        if abs(diff) * pinv[p] > max_grad:
            return True
    return False


@numba.njit(cache=True)
def thermal_violation(  # type: ignore[no-untyped-def]
    s, d, i, frontier, z_front, act_end, act_task, n_act, therm, z_at_s, start, drift_ref
):
    """First tick >= s at which starting task i at s breaks a limit, or -1 if none does.

    Plays the model from the frontier state: committed tasks `act_task[:n_act]` (running until
    `act_end`, started at `start`) and task i over [s, s+d), up to the last end plus the tail.
    Writes the modal state at tick s into `z_at_s`, and i's drift references into `drift_ref`.
    The tick returned is the first violating one: intervals the bound clears have none, and the
    first interval it does not clear is played period by period. Intervals in which a
    drift-sensitive task runs are always played period by period.
    """
    decay, tin, tfeed, tail = therm[1], therm[2], therm[3], therm[11]
    dptr, twf = therm[14], therm[18]
    m = decay.shape[0]
    sensors = tfeed.shape[1]
    z = z_front.copy()
    advance(z, frontier, s, act_end, act_task, n_act, therm)
    z_at_s[:] = z
    work = np.empty((4, max(sensors, therm[5].shape[0], 1)))
    last = s + d
    for a in range(n_act):
        last = max(last, act_end[a])
    stop = last + tail
    bsum = np.zeros(m)
    fsum = np.zeros(sensors)
    drift = twf.shape[1] > 0
    sens = np.empty(n_act + 1, dtype=np.int64)
    sens_start = np.empty(n_act + 1, dtype=np.int64)
    wfeed = np.zeros(twf.shape[1])
    # Committed tasks that also start at s have their references rewritten with i heating in
    # their first period too; put back if i fails.
    # The first-period rise of everything starting at s, i included: what a reference
    # recorded at s leaves out (`drift.drift_reading_violates`).
    tick_rise = np.zeros(twf.shape[1])
    if drift:
        starts = start[act_task[:n_act]]
        tick_first_rise(act_task, starts, n_act, s, i, therm[17], twf, tin, tick_rise)
    k = s
    while k < stop:
        # The interval [k, k_end) of constant power: committed tasks still running, and i.
        k_end = stop
        bsum[:] = 0.0
        fsum[:] = 0.0
        wfeed[:] = 0.0
        n_sens = 0
        for a in range(n_act):
            if act_end[a] > k:
                j = act_task[a]
                _add_task(bsum, fsum, tin, tfeed, j)
                k_end = min(k_end, act_end[a])
                if drift:
                    wfeed += twf[j]
                    if dptr[j + 1] > dptr[j]:
                        sens[n_sens] = j
                        sens_start[n_sens] = start[j]
                        n_sens += 1
        if k < s + d:
            _add_task(bsum, fsum, tin, tfeed, i)
            k_end = min(k_end, s + d)
            if drift:
                wfeed += twf[i]
                if dptr[i + 1] > dptr[i]:
                    sens[n_sens] = i
                    sens_start[n_sens] = s
                    n_sens += 1
        if n_sens:
            v = _first_drift_violation(
                z,
                decay,
                bsum,
                fsum,
                k,
                k_end - k,
                therm,
                work,
                sens,
                n_sens,
                sens_start,
                wfeed,
                drift_ref,
                tick_rise,
            )
            if v >= 0:
                return v
            k = k_end
            continue
        if k == s:
            # The candidate's first period alone: on a device already at its limit, that is
            # where it fails, and a failing bound would cost more than this period.
            v = _first_violation(z, decay, bsum, fsum, k, 1, therm, work)
            if v >= 0:
                return v
            k += 1
        ticks = k_end - k
        if ticks >= _BOUND_ABOVE_TICKS and _interval_within(
            z, decay, bsum, fsum, ticks, therm, work
        ):
            advance_modes(z, decay, bsum, ticks)
        else:
            v = _first_violation(z, decay, bsum, fsum, k, ticks, therm, work)
            if v >= 0:
                return v
        k = k_end
    return -1
