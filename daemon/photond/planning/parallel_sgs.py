"""Parallel schedule generation for thermal instances: time moves forward, heat is checked.

The serial scheme places tasks anywhere in time, but a thermal check needs the model state at
the start, which depends on every task running before it; placing heating tasks in list order
and non-decreasing time makes one blocked task hold back all that follow. The parallel scheme
(Kelley 1963; Kolisch 1996) avoids that: it walks time forward from event to event and, at each
time t, starts — in activity-list order — every eligible task (predecessors finished, released)
that fits the free resources and lane and passes the thermal check at t. The model state at t is
therefore always known (every task started so far started at or before t), and the check by
superposition is `thermal_check.thermal_violation` with the frontier at t.

Time advances to the next task end, the next release, or — when heat held a task back and
nothing ends sooner — a wait: doubling (1, 2, 4 … periods, reset whenever a task starts) until
the first held-back task would pass, then a bisection back to its earliest passing start (exact
for the resources, since nothing starts or ends in between). At one
time at most `_MAX_HEAT_FAILS` thermal checks may fail before the scheme moves on: past that,
the device is too hot for anything that heats.

The scan at a time also ends once every eligible task left is ruled out. Tasks with the same
demands (resources and amounts) form a class, and resources only fill up during one scan, so
the first of a class that does not fit rules out the rest of its class unseen. Without this a
graph whose tasks share one heater (so one runs at a time) cost a walk over every eligible
task per start: 100k such tasks took over two minutes to decode, now well under a second.

Held-back tasks. Left alone the scheme builds *non-delay* schedules: whatever can start, starts.
Where heat binds, the optimum may need a task held back while it could run, so that the heat
of the tasks already on has decayed when a more critical one (on the critical path, or hotter)
must start — on a small instance of the exact study (docs/study.md) every non-delay schedule
is 17 % longer than the optimum. So the decoder also takes a delay per task: task i becomes
ready `delay[i]` ticks after its release and predecessors allow, and that readiness time is
one more event time. A feasible schedule S is then reachable, which a list alone cannot
promise: list the tasks by S's starts, give each the gap between its start in S and its
release and predecessors' ends there; by induction over S's start times each task is ready
exactly at its start in S and passes its check, since the tasks committed by then are a
subset of S's and a rise adds up from non-negative step responses. (Gradients and drift are
differences, which a subset can break where S does not: there, reachability is not proven.)
The search (`search`) mutates the delays of thermal instances; empty delays are the plain
non-delay scheme.
"""

from __future__ import annotations

import numba
import numpy as np

from photond.planning.thermal_check import (
    MAX_WAIT_TICKS,
    advance,
    committed_first_period,
    first_period_fails,
    infeasible,
    thermal_violation,
)

_MAX_HEAT_FAILS = 6
_ONE = np.uint64(1)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(cache=True)
def _next_eligible(bits, p, n):  # type: ignore[no-untyped-def]
    """The smallest list position >= p whose bit is set in `bits`, or n.

    Eligible tasks are sparse among list positions on large graphs (10k tasks: ~10M scan
    steps position by position), so the scan skips 64 positions per empty word.
    """
    if p >= n:
        return n
    w = p >> 6
    word = bits[w] & (_ALL << np.uint64(p & 63))
    while word == 0:
        w += 1
        if w >= bits.shape[0]:
            return n
        word = bits[w]
    low = word & (~word + _ONE)  # the lowest set bit alone
    b = 0
    while low > _ONE:
        low >>= _ONE
        b += 1
    return min(n, (w << 6) + b)


@numba.njit(cache=True)
def _set_bit(bits, p, on):  # type: ignore[no-untyped-def]
    if on:
        bits[p >> 6] |= _ONE << np.uint64(p & 63)
    else:
        bits[p >> 6] &= ~(_ONE << np.uint64(p & 63))


@numba.njit(cache=True)
def demand_classes(dem_ptr, dem_res, dem_amt, n):  # type: ignore[no-untyped-def]
    """A class number per task, equal only for tasks whose demand rows are identical.

    Rows are hashed and sorted by hash; neighbours with equal rows share a class. Rows that
    collide without being equal are split into more classes, never merged: a class is a
    promise that its tasks demand the same, not that all such tasks share one.
    """
    key = np.empty(n, dtype=np.int64)
    for i in range(n):
        h = np.int64(1469598103934665603)
        for k in range(dem_ptr[i], dem_ptr[i + 1]):
            h = h * np.int64(1099511628211) + dem_res[k] * np.int64(65599) + dem_amt[k]
        key[i] = h
    by_key = np.argsort(key, kind="mergesort")
    cls = np.empty(n, dtype=np.int64)
    classes = 0
    for j in range(n):
        i = by_key[j]
        same = False
        if j > 0:
            q = by_key[j - 1]
            same = key[q] == key[i] and dem_ptr[q + 1] - dem_ptr[q] == dem_ptr[i + 1] - dem_ptr[i]
            if same:
                for k in range(dem_ptr[i + 1] - dem_ptr[i]):
                    a, b = dem_ptr[q] + k, dem_ptr[i] + k
                    if dem_res[a] != dem_res[b] or dem_amt[a] != dem_amt[b]:
                        same = False
                        break
        if not same:
            classes += 1
        cls[i] = classes - 1
    return cls, classes


@numba.njit(cache=True)
def _still_running(act_end, act_task, n_act, t):  # type: ignore[no-untyped-def]
    """Keep the heating tasks that run past t (in place); return how many."""
    kept = 0
    for a in range(n_act):
        if act_end[a] > t:
            act_end[kept] = act_end[a]
            act_task[kept] = act_task[a]
            kept += 1
    return kept


@numba.njit(cache=True)
def parallel_thermal_kernel(order, prob, therm, start, lane_out, delay):  # type: ignore[no-untyped-def]
    """Decode `order` with the parallel scheme; return the makespan in ticks or -1.

    `delay` (ticks per task, or empty for none) holds task i back until `delay[i]` ticks after
    it could first start (release and predecessors' ends): see the module's last paragraph.
    """
    dur, rel, pred_ptr, pred_idx, cap, dem_ptr, dem_res, dem_amt, lane_mask = prob
    thermal, has_power = therm[0], therm[9]
    n = dur.shape[0]
    lanes = lane_mask.shape[1]
    m = therm[1].shape[0]
    pos = np.empty(n, dtype=np.int64)
    for k in range(n):
        pos[order[k]] = k
    waiting = np.zeros(n, dtype=np.int64)
    for i in range(n):
        waiting[i] = pred_ptr[i + 1] - pred_ptr[i]
    # Successors from predecessor rows (CSR built here: the kernel takes one precedence side).
    succ_count = np.zeros(n + 1, dtype=np.int64)
    for k in range(pred_idx.shape[0]):
        succ_count[pred_idx[k] + 1] += 1
    succ_ptr = np.cumsum(succ_count)
    succ_idx = np.empty(pred_idx.shape[0], dtype=np.int64)
    fill = succ_ptr[:-1].copy()
    for i in range(n):
        for k in range(pred_ptr[i], pred_ptr[i + 1]):
            p = pred_idx[k]
            succ_idx[fill[p]] = i
            fill[p] += 1
    held = delay.shape[0] > 0
    ready_at = rel.copy()
    if held:
        ready_at += delay
    # Eligible tasks (all predecessors started) as bits by list position: a scan at t walks
    # the set bits in list order, so starting and adding tasks cost O(1).
    elig_bits = np.zeros((n + 63) // 64 + 1, dtype=np.uint64)
    # How many eligible tasks there are, in all and per demand class; a class's stamp is the
    # scan that found it full, `seen` how many of it that scan ruled out one by one.
    cls, classes = demand_classes(dem_ptr, dem_res, dem_amt, n)
    n_elig = 0
    class_elig = np.zeros(classes, dtype=np.int64)
    class_full = np.full(classes, -1, dtype=np.int64)
    class_seen = np.zeros(classes, dtype=np.int64)
    class_seen_at = np.full(classes, -1, dtype=np.int64)
    for k in range(n):
        if waiting[order[k]] == 0:
            _set_bit(elig_bits, k, True)
            n_elig += 1
            class_elig[cls[order[k]]] += 1
    # Words of `elig_bits` below `low_word` are empty: a task becomes eligible only after a
    # predecessor, which sits earlier in the list, so no bit is ever set below the lowest one.
    low_word = 0
    scan = -1
    releases = np.sort(rel)
    next_release = 0
    used = np.zeros(cap.shape[0], dtype=np.int64)
    lane_free = np.zeros(lanes, dtype=np.int64)
    run_end = np.empty(n, dtype=np.int64)
    run_task = np.empty(n, dtype=np.int64)
    n_run = 0
    act_end = np.empty(n, dtype=np.int64)
    act_task = np.empty(n, dtype=np.int64)
    n_act = 0
    # When every task takes one unit of resource 0 (the daemon's lane pool), a full pool ends
    # the scan at t early.
    pool = cap.shape[0] > 0
    for i in range(n):
        if not pool:
            break
        pool = dem_ptr[i + 1] > dem_ptr[i] and dem_res[dem_ptr[i]] == 0 and dem_amt[dem_ptr[i]] == 1
    z_front = therm[8].copy()
    z_at = np.zeros(m)
    y_first = np.zeros(therm[3].shape[1])
    # Drift-sensitive tasks' references, written by the check that lets each one start.
    drift_ref = np.zeros(therm[15].shape[0])
    frontier = 0
    t = 0
    wait = 1
    placed = 0
    makespan = 0
    while placed < n:
        # Finish what has ended by t: free resources, release successors.
        kept = 0
        for a in range(n_run):
            i = run_task[a]
            if run_end[a] <= t:
                for k in range(dem_ptr[i], dem_ptr[i + 1]):
                    used[dem_res[k]] -= dem_amt[k]
            else:
                run_end[kept] = run_end[a]
                run_task[kept] = i
                kept += 1
        n_run = kept
        if thermal and t > frontier:
            # Every start from now on is at or after t: move the frontier here once, so each
            # check at t starts from the state at t instead of replaying from the frontier.
            advance(z_front, frontier, t, act_end, act_task, n_act, therm)
            frontier = t
            n_act = _still_running(act_end, act_task, n_act, t)
        y_first_at = -1
        # The earliest readiness time after t among the tasks the scan saw not ready: a
        # held-back task's (predecessors' ends and releases are events anyway).
        next_ready = MAX_WAIT_TICKS * 4
        started_any = False
        heat_fails = 0
        blocked = -1
        scan += 1
        ruled_out = 0
        while low_word < elig_bits.shape[0] - 1 and elig_bits[low_word] == 0:
            low_word += 1
        p = _next_eligible(elig_bits, low_word << 6, n)
        while p < n:
            if (pool and used[0] >= cap[0]) or heat_fails >= _MAX_HEAT_FAILS:
                break
            if ruled_out >= n_elig:
                break
            i = order[p]
            c = cls[i]
            here = p
            p = _next_eligible(elig_bits, p + 1, n)
            if class_full[c] == scan:
                continue  # counted when its class was found full
            if class_seen_at[c] != scan:
                class_seen_at[c] = scan
                class_seen[c] = 0
            d = dur[i]
            if ready_at[i] > t:
                next_ready = min(next_ready, ready_at[i])
                ruled_out += 1
                class_seen[c] += 1
                continue
            fits = True
            for k in range(dem_ptr[i], dem_ptr[i + 1]):
                if used[dem_res[k]] + dem_amt[k] > cap[dem_res[k]]:
                    fits = False
                    break
            if not fits:
                class_full[c] = scan
                ruled_out += class_elig[c] - class_seen[c]
                continue
            lane = -1
            if lanes > 0:
                for q in range(lanes):
                    if lane_mask[i, q] and (lane_free[q] <= t or d == 0):
                        lane = q
                        break
                if lane < 0:
                    ruled_out += 1
                    class_seen[c] += 1
                    continue
            if has_power[i]:
                if y_first_at != t:
                    committed_first_period(z_front, t, act_end, act_task, n_act, therm, y_first)
                    y_first_at = t
                # Most candidates on a hot device fail in their first period: one reading
                # per event time decides that for all of them.
                v = t
                if not first_period_fails(y_first, i, therm):
                    v = thermal_violation(
                        t,
                        d,
                        i,
                        frontier,
                        z_front,
                        act_end,
                        act_task,
                        n_act,
                        therm,
                        z_at,
                        start,
                        drift_ref,
                    )
                if v >= 0:
                    if heat_fails == 0:
                        blocked = i
                    heat_fails += 1
                    ruled_out += 1
                    class_seen[c] += 1
                    continue
                # Commit: the frontier moves to t; heating tasks that ended by t are in z_at.
                z_front[:] = z_at
                frontier = t
                n_act = _still_running(act_end, act_task, n_act, t)
                y_first_at = -1
                act_end[n_act] = t + d
                act_task[n_act] = i
                n_act += 1
            # Start i at t.
            start[i] = t
            lane_out[i] = lane
            placed += 1
            started_any = True
            makespan = max(makespan, t + d)
            _set_bit(elig_bits, here, False)
            n_elig -= 1
            class_elig[c] -= 1
            if d > 0:
                for k in range(dem_ptr[i], dem_ptr[i + 1]):
                    used[dem_res[k]] += dem_amt[k]
                if lane >= 0:
                    lane_free[lane] = t + d
                run_end[n_run] = t + d
                run_task[n_run] = i
                n_run += 1
            # Successors sit later in the list: this scan still reaches them.
            for k in range(succ_ptr[i], succ_ptr[i + 1]):
                s = succ_idx[k]
                ready_at[s] = max(ready_at[s], t + d + (delay[s] if held else 0))
                waiting[s] -= 1
                if waiting[s] == 0:
                    _set_bit(elig_bits, pos[s], True)
                    p = min(p, pos[s])
                    n_elig += 1
                    class_elig[cls[s]] += 1
                    if class_full[cls[s]] == scan:
                        ruled_out += 1  # its class is full: ruled out unseen, like the rest
        if placed == n:
            break
        # Next event: a task end, a readiness time, or a wait for the device to cool.
        nxt = MAX_WAIT_TICKS * 4
        for a in range(n_run):
            nxt = min(nxt, run_end[a])
        while next_release < n and releases[next_release] <= t:
            next_release += 1
        if next_release < n:
            nxt = min(nxt, releases[next_release])
        nxt = min(nxt, next_ready)
        if started_any:
            wait = 1
        if heat_fails > 0 and t + wait < nxt:
            # Nothing starts or ends before t + wait, so the first task heat held back fits
            # the resources all along: find by bisection its earliest start that passes.
            # The first probe is t + wait itself; only if it passes does the bisection go on.
            lo, hi = t, t + wait
            probe = hi
            passes = False
            while True:
                v = thermal_violation(
                    probe, dur[blocked], blocked, frontier, z_front, act_end, act_task, n_act,
                    therm, z_at, start, drift_ref,
                )  # fmt: skip
                if v < 0:
                    hi = probe
                    passes = True
                else:
                    lo = probe
                if not passes or hi - lo <= 1:
                    break
                probe = (lo + hi) // 2
            if passes:
                nxt = hi
            else:
                nxt = t + wait
                wait *= 2
                if wait > MAX_WAIT_TICKS:
                    return infeasible(blocked)
        elif heat_fails > 0:
            wait = max(1, wait // 2)
        if nxt <= t:
            nxt = t + 1
        t = nxt
    return makespan
