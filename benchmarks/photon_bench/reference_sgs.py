"""A plain numpy reference of the serial schedule-generation scheme, heat ignored.

It exists to check `decoder.decode_kernel` and to give the optimizer benchmark a
non-numba baseline, so it is written for clarity, not speed, and shares no code with the
kernel. Tasks are taken in list order; each starts at the earliest tick at which its
predecessors have finished, its release tick has come, and every resource it demands (and, with
explicit lanes, one of its allowed lanes) has room for its whole duration. Among lanes the
earliest start wins, the lowest lane on a tie.

The resource profile is a (ticks, resources) array of usage; a task's earliest start is found
from the cumulative count of ticks at which it would not fit, so that every window of its
duration is checked at once. The result equals `decode_kernel`'s for instances without thermal
tables and with at most `decoder.PARALLEL_ABOVE_TASKS` tasks (the kernel's serial scheme);
thermal and larger instances go to the kernel's parallel scheme, which this does not reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from photond.planning.instance import Instance

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def reference_decode(
    inst: Instance, order: Sequence[int] | IntArray
) -> tuple[int, IntArray, IntArray]:
    """(makespan ticks, start ticks, lanes or -1) of the activity list `order`.

    Raises:
        ValueError: `order` is not a permutation that lists every predecessor before its task,
            or a task may use none of the explicit lanes.
    """
    n = inst.n
    listed = np.asarray(order, dtype=np.int64)
    if sorted(listed.tolist()) != list(range(n)):
        raise ValueError("order must be a permutation of the tasks")
    duration, capacity = inst.duration, inst.capacity
    # No serial schedule ends later than the last release plus all the work done one by one.
    horizon_ticks = int(inst.release.max(initial=0) + duration.sum()) + 1
    usage = np.zeros((horizon_ticks, capacity.shape[0]), dtype=np.int64)
    lane_busy = np.zeros((horizon_ticks, inst.lanes), dtype=np.bool_)
    start = np.full(n, -1, dtype=np.int64)
    lane = np.full(n, -1, dtype=np.int64)
    makespan = 0
    for i in listed.tolist():
        preds = inst.predecessors(i)
        if (start[preds] < 0).any():
            raise ValueError(f"task {inst.names[i]!r} is listed before a predecessor")
        ready = max([int(inst.release[i]), *(start[preds] + duration[preds]).tolist()])
        d = int(duration[i])
        # From the latest end so far on, nothing is in use: the task starts by max(ready, that).
        last = max(ready, makespan)
        demands = inst.demands(i)
        res = np.array([r for r, _ in demands], dtype=np.int64)
        amt = np.array([a for _, a in demands], dtype=np.int64)
        over = usage[ready : last + d][:, res] + amt > capacity[res]
        blocked = np.asarray(over.any(axis=1), dtype=np.bool_)
        if inst.lanes:
            choices = np.flatnonzero(inst.lane_mask[i]).tolist()
            if not choices:
                raise ValueError(f"task {inst.names[i]!r} may use no lane")
        else:
            choices = [-1]
        t_best, k_best = -1, -1
        for k in choices:
            busy = blocked | lane_busy[ready : last + d, k] if k >= 0 else blocked
            t = ready + _earliest_free(busy, d)
            if t_best < 0 or t < t_best:
                t_best, k_best = t, k
        usage[t_best : t_best + d, res] += amt
        if k_best >= 0:
            lane_busy[t_best : t_best + d, k_best] = True
        start[i], lane[i] = t_best, k_best
        makespan = max(makespan, t_best + d)
    return makespan, start, lane


def _earliest_free(blocked: BoolArray, d: int) -> int:
    """The first offset s with blocked[s : s + d] all False (blocked ends with d free ticks)."""
    count = np.concatenate(([0], np.cumsum(blocked)))
    in_window = count[d:] - count[: count.shape[0] - d]
    return int(np.flatnonzero(in_window == 0)[0])
