"""The thermal check by superposition: does starting a task at s keep the device in its limits?

The model state at the *frontier* tick is known, with the heating tasks still running then and
their end ticks. Starting task i at s >= frontier is checked by playing that committed power
plus task i's over [s, s+d) through the exactly discretised modes, one control period at a time
(z <- a * z + sum of B p), reading every sensor (C z + sum of D p) and every neighbour gradient
from s until every task has ended plus a tail (the fast modes' settling). By linearity this is
the superposition of the tasks' step responses, and it is exact for the discretised model.
Waiting with nothing heating is a closed-form decay, so any wait length costs the same.
"""

from __future__ import annotations

import numba
import numpy as np

INFEASIBLE = -1
# A wait this long means the task cannot run at all (it would not fit even from ambient).
MAX_WAIT_TICKS = 1 << 40


@numba.njit(cache=True)
def thermal_violation(s, d, i, frontier, z_front, act_end, act_task, n_act, therm, z_at_s):  # type: ignore[no-untyped-def]
    """First tick >= s at which starting task i at s breaks a limit, or -1 if none does.

    Plays the model from the frontier state: committed tasks `act_task[:n_act]` (running until
    `act_end`) and task i over [s, s+d), up to the last end plus the tail. Writes the modal
    state at tick s into `z_at_s`.
    """
    decay, tin, tfeed, readout = therm[1], therm[2], therm[3], therm[4]
    pf, ps, pinv = therm[5], therm[6], therm[7]
    max_rise, max_grad, tail = therm[10][0], therm[10][1], therm[11]
    m = decay.shape[0]
    sensors = readout.shape[0]
    z = z_front.copy()
    last = s + d
    for a in range(n_act):
        last = max(last, act_end[a])
    stop = last + tail
    bsum = np.zeros(m)
    fsum = np.zeros(sensors)
    y = np.zeros(sensors)
    k = frontier
    next_event = frontier
    while k < stop:
        if k == next_event:
            bsum[:] = 0.0
            fsum[:] = 0.0
            next_event = stop
            powered = False
            for a in range(n_act):
                if act_end[a] > k:
                    powered = True
                    j = act_task[a]
                    bsum += tin[j]
                    fsum += tfeed[j]
                    next_event = min(next_event, act_end[a])
            if s <= k < s + d:
                powered = True
                bsum += tin[i]
                fsum += tfeed[i]
                next_event = min(next_event, s + d)
            elif k < s:
                next_event = min(next_event, s)
            if not powered and k < s:
                # Nothing heats until s: the modes just decay (closed form, any wait length).
                for q in range(m):
                    z[q] *= decay[q] ** (s - k)
                k = s
                next_event = s
                continue
        if k == s:
            z_at_s[:] = z
        for q in range(m):
            z[q] = decay[q] * z[q] + bsum[q]
        if k >= s:
            for r in range(sensors):
                acc = fsum[r]
                for q in range(m):
                    acc += readout[r, q] * z[q]
                y[r] = acc
                if acc > max_rise:
                    return k
            for p in range(pf.shape[0]):
                if abs(y[pf[p]] - y[ps[p]]) * pinv[p] > max_grad:
                    return k
        k += 1
    return -1
