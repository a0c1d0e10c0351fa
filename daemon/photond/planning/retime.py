"""Forecast the hot spots of a plan from an estimated state, and re-time a plan to stay cool.

Both are event-driven: between two task starts or ends every input is constant, so each mode
moves in closed form, x(t+n) = x_ss + aⁿ (x(t) - x_ss), and the cost is per event rather than
per control period. That is what lets the loop forecast a 1,000-task remainder every 100 ms
and re-plan it in a few milliseconds (numba, compiled once and cached on disk).

Inputs are in a `LoopModel` truncated to `FORECAST_MODES` modes, read at the limit points (every
heater's footprint, then every sensor: the optimiser's points); each task is reduced beforehand
to its modal input and its feedthrough, so a start or end costs O(modes + points); the re-time
also holds every neighbour gradient between sensors to its limit (docs/architecture.md, "Where
the limits are enforced"). The re-time reads a task's window at the end of its first period,
just before each end within it and at its end (period ends, as the optimiser reads; the
forecast also reads just after each event, with the new feedthrough): under constant input a
temperature moves monotonically between events up to the faster modes' small overshoot, which
the planning margin covers. Drift-sensitive tasks are held to the optimiser's drift rule on its
own model (`drift.drift_holds`).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from photond.planning.drift import (
    drift_holds,
    drift_reading_violates,
    own_modes,
    tick_first_rise,
)
from photond.planning.superposition import add_row, advance_modes

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# A start period no task reaches: the parallel re-time's "not ready" (a dependency unplaced).
_NEVER = 2**63 - 1


@njit(cache=True, nogil=True, inline="always")
def _set_row(dst: FloatArray, to: int, src: FloatArray, row: int) -> None:
    for q in range(dst.shape[1]):
        dst[to, q] = src[row, q]


@njit(cache=True, nogil=True)
def _hottest(out_t: FloatArray, x: FloatArray, feed: FloatArray, acc: FloatArray) -> float:
    """max over outputs of feed + out x, with `out_t` = outᵀ (modes, outputs).

    Mode-outer, output-inner: the inner loop runs over the many hot spots and vectorises (the
    modes are few), which is what makes the re-time fit in a control period.
    """
    for o in range(acc.shape[0]):
        acc[o] = feed[o]
    for i in range(x.shape[0]):
        xi = x[i]
        for o in range(acc.shape[0]):
            acc[o] += out_t[i, o] * xi
    return float(acc.max())


@njit(cache=True, nogil=True, inline="always")
def _steepest(acc: FloatArray, first: IntArray, second: IntArray, inv_mm: FloatArray) -> float:
    """The largest neighbour gradient (°C/mm) of the limit-point readings `_hottest` left in
    `acc` (the pairs index the sensors among them)."""
    steep = 0.0
    for p in range(first.shape[0]):
        steep = max(steep, abs(acc[first[p]] - acc[second[p]]) * inv_mm[p])
    return steep


@njit(cache=True, nogil=True)
def forecast_peak(
    decay: FloatArray,
    out_t: FloatArray,
    x0: FloatArray,
    base_in: FloatArray,
    base_feed: FloatArray,
    start: IntArray,
    end: IntArray,
    task_in: FloatArray,
    task_feed: FloatArray,
    trace: FloatArray,
) -> tuple[float, int]:
    """Peak hot-spot temperature (°C) and its period for tasks at fixed [start, end) periods.

    Period 0 is now. When `trace` is non-empty, trace[k] receives the hottest spot at the end
    of period k (a per-period trace: the plan's reference for drift), else only events are
    evaluated.
    """
    n = start.shape[0]
    times = np.concatenate((start, end))
    order = np.argsort(times, kind="mergesort")
    x = x0.copy()
    modal_in = base_in.copy()
    feed = base_feed.copy()
    acc = np.empty_like(feed)
    now = 0
    peak = _hottest(out_t, x, feed, acc)
    peak_at = 0
    per_period = trace.shape[0] > 0
    k = 0
    while k <= 2 * n:
        t = times[order[k]] if k < 2 * n else max(now, trace.shape[0])
        while now < t:
            step = 1 if per_period else t - now
            advance_modes(x, decay, modal_in, step)
            now += step
            y = _hottest(out_t, x, feed, acc)
            if per_period and now - 1 < trace.shape[0]:
                trace[now - 1] = y
            if y > peak:
                peak, peak_at = y, now
        if k == 2 * n:
            break
        while k < 2 * n and times[order[k]] == t:
            j = order[k]
            sign = 1.0 if j < n else -1.0
            task = j if j < n else j - n
            add_row(modal_in, task_in, task, sign)
            add_row(feed, task_feed, task, sign)
            k += 1
        y = _hottest(out_t, x, feed, acc)
        if y > peak:
            peak, peak_at = y, now
    return peak, peak_at


@njit(cache=True, nogil=True)
def retime(
    decay: FloatArray,
    out_t: FloatArray,
    x0: FloatArray,
    base_in: FloatArray,
    base_feed: FloatArray,
    limit_c: float,
    pair_first: IntArray,
    pair_second: IntArray,
    pair_inv_mm: FloatArray,
    max_gradient: float,
    order: IntArray,
    duration: IntArray,
    release: IntArray,
    lane: IntArray,
    lane_free: IntArray,
    heater_ptr: IntArray,
    heater_idx: IntArray,
    heater_free: IntArray,
    dep_ptr: IntArray,
    dep_idx: IntArray,
    task_in: FloatArray,
    task_feed: FloatArray,
    running_end: IntArray,
    running_in: FloatArray,
    running_feed: FloatArray,
    running_start: IntArray,
    drift_ptr: IntArray,
    drift_watch: IntArray,
    drift_limit: FloatArray,
    drift_decay: FloatArray,
    drift_x0: FloatArray,
    drift_base_in: FloatArray,
    drift_task_in: FloatArray,
    drift_readout: FloatArray,
    drift_feed: FloatArray,
    cool_step: int,
    max_wait: int,
    window: int,
    max_fails: int,
) -> tuple[IntArray, float, float]:
    """Start periods for the tasks, in `order`, each as early as lanes, heaters, dependencies
    and the thermal limits allow.

    `window` 0, the serial scheme: starts never go back in time along `order`, so a task that
    must wait for the chip to cool delays every later one. Otherwise the parallel scheme: time
    walks from event to event, and at each time the first `window` tasks of `order` not yet
    placed are tried in order, each that is ready and fits starting then (at most `max_fails`
    tried and failed per time); a task held back delays only what its wait concerns, and at
    most `window` - 1 tasks overtake it. `replan.RemainingProblem.retime` runs both.

    A task is placed at its earliest time when the hottest limit point, predicted over its own
    run with every task already placed (and running ones), stays at or below `limit_c` and
    every neighbour gradient at or below `max_gradient`; otherwise it waits for the next placed
    task to end (or `cool_step` periods when none runs). A task that cannot fit within
    `max_wait` periods of its earliest time is placed there anyway, and the returned peak
    temperature and peak gradient say so.

    Drift-tolerant tasks (`drift_ptr` over rows 0..n-1 for `order`'s tasks, then n.. for the
    running ones, which started at `running_start` ≤ 0) are held to their limits too, by the
    optimiser's rule on its model (`drift.drift_holds`): `drift_*` are the full planning
    model's decay, state now, constant input, per-row modal input, the watched footprints'
    readout and per-row feedthrough (`thermal_tables.drift_tables`), played beside the
    truncated model the limits use. A running task is held from now on, to its footprints'
    other heat now, since its reference lies in the past.
    """
    n = order.shape[0]
    m = running_end.shape[0]
    cap = n + m
    act_end = np.empty(cap, dtype=np.int64)
    act_in = np.empty((cap, decay.shape[0]))
    act_feed = np.empty((cap, out_t.shape[1]))
    act_task = np.empty(cap, dtype=np.int64)
    act_start = np.empty(cap, dtype=np.int64)
    count = 0
    for r in range(m):
        act_end[count] = running_end[r]
        act_task[count] = n + r
        act_start[count] = running_start[r]
        _set_row(act_in, count, running_in, r)
        _set_row(act_feed, count, running_feed, r)
        count += 1
    x = x0.copy()
    modal_in = base_in.copy() + running_in.sum(axis=0)
    feed = base_feed.copy() + running_feed.sum(axis=0)
    drift = drift_ptr[-1] > 0
    drift_ref = np.zeros(drift_watch.shape[0])
    # The drift rule's state on the full model: modes now, input and watched feedthrough of
    # the placed tasks running, and scratch for `drift_holds`.
    xf = drift_x0.copy()
    in_f = drift_base_in.copy()
    wfeed = np.zeros(drift_feed.shape[1])
    sim_z = np.empty_like(xf)
    sim_in = np.empty_like(in_f)
    sim_feed = np.empty_like(wfeed)
    z_self = np.empty((cap + 1, xf.shape[0]))
    sens = np.empty(cap + 1, dtype=np.int64)
    sens_start = np.zeros(cap + 1, dtype=np.int64)
    sens_end = np.empty(cap + 1, dtype=np.int64)
    if drift:
        for a in range(count):
            add_row(in_f, drift_task_in, act_task[a], 1.0)
            add_row(wfeed, drift_feed, act_task[a], 1.0)
        # A running task's reference is its footprints' other heat now: recorded by reading
        # each one as a candidate of the present period (the rule's own reading), with only
        # its own first-period rise in `tick_rise`, which that reading takes back out.
        own_rise = np.empty(wfeed.shape[0])
        for a in range(count):
            row = act_task[a]
            if drift_ptr[row + 1] > drift_ptr[row]:
                tick_first_rise(
                    act_task, act_start, 0, 0, row, drift_readout, drift_feed, drift_task_in,
                    own_rise,
                )  # fmt: skip
                sens[0] = row
                sens_end[0] = act_end[a]
                own_modes(z_self, 0, drift_task_in[row], drift_decay, -act_start[a])
                drift_reading_violates(
                    xf, z_self, sens, sens_start, sens_end, 1, 0, wfeed, drift_ptr,
                    drift_watch, drift_limit, drift_readout, drift_feed, drift_task_in,
                    drift_ref, own_rise,
                )  # fmt: skip
    now = 0
    start = np.zeros(n, dtype=np.int64)
    finish = np.zeros(n, dtype=np.int64)
    peak = -np.inf
    peak_gradient = 0.0
    lane_at = lane_free.copy()
    heater_at = heater_free.copy()
    # Scratch for the window prediction, allocated once (the kernel runs per pass and per
    # search candidate: allocations per task would dominate).
    xw = np.empty_like(x)
    win_in = np.empty_like(modal_in)
    win_feed = np.empty_like(feed)
    ends = np.empty(cap, dtype=np.int64)
    acc = np.empty_like(feed)
    # Time walks forward from event to event; at each time the first `window` tasks of
    # `order` not yet placed are tried in order, and each that is ready and fits starts then,
    # so a task held back for heat holds back no later task that fits (at most `window` - 1
    # overtake it: then nothing new heats and it fits as the chip cools). At most `max_fails`
    # tasks are tried and fail per time, as in the optimiser's parallel scheme. With a window
    # of one task this is the serial scheme: each task at its earliest time at or after the
    # one ahead of it.
    window = max(window, 1)
    placed = np.zeros(n, dtype=np.bool_)
    everything = np.ones(n, dtype=np.bool_)
    waiting_since = np.full(n, -1, dtype=np.int64)
    head = 0
    t = 0
    while head < n:
        now, count = _retire_until(
            t, now, count, x, decay, modal_in, feed, act_end, act_task, act_start, act_in,
            act_feed, drift, xf, drift_decay, in_f, wfeed, drift_task_in, drift_feed,
        )  # fmt: skip
        head_before = head
        next_t = _NEVER
        fails = 0
        for pos in range(head, min(n, head + window)):
            i = order[pos]
            if placed[i]:
                continue
            # The first task not placed waits for no unplaced dependency (an order that
            # does not put dependencies first must not stall the re-time).
            ready = _ready(
                i, release, lane, lane_at, heater_ptr, heater_idx, heater_at, dep_ptr, dep_idx,
                finish, everything if pos == head else placed,
            )  # fmt: skip
            if ready > t:
                next_t = min(next_t, ready)
                continue
            if fails >= max_fails:
                next_t = min(next_t, _next_try(t, cool_step, act_end, count))
                continue
            if waiting_since[i] < 0:
                waiting_since[i] = t
            stop = t + duration[i]
            hot, steep = _window(
                i, t, stop, count, x, modal_in, feed, task_in, task_feed, act_end, act_in,
                act_feed, decay, out_t, pair_first, pair_second, pair_inv_mm, xw, win_in,
                win_feed, ends, acc,
            )  # fmt: skip
            fits = hot <= limit_c and steep <= max_gradient
            if fits and drift:
                fits = drift_holds(
                    i, t, stop, xf, in_f, wfeed, count, act_end, act_task, act_start,
                    drift_decay, drift_task_in, drift_ptr, drift_watch, drift_limit,
                    drift_readout, drift_feed, drift_ref, sim_z, sim_in, sim_feed, z_self,
                    sens, sens_start, sens_end, False,
                )  # fmt: skip
            if not (fits or t - waiting_since[i] >= max_wait):
                fails += 1
                next_t = min(next_t, _next_try(t, cool_step, act_end, count))
                continue
            peak = max(peak, hot)
            peak_gradient = max(peak_gradient, steep)
            # Start i at t: its lane and heaters held until it ends, its heat active.
            start[i] = t
            finish[i] = t + duration[i]
            lane_at[lane[i]] = finish[i]
            for h in range(heater_ptr[i], heater_ptr[i + 1]):
                heater_at[heater_idx[h]] = finish[i]
            if drift and not fits and drift_ptr[i + 1] > drift_ptr[i]:
                # Placed anyway after `max_wait` without the drift check having run: its first
                # period's reading is its reference all the same (the candidate is read first).
                drift_holds(
                    i, t, t + duration[i], xf, in_f, wfeed, count, act_end, act_task, act_start,
                    drift_decay, drift_task_in, drift_ptr, drift_watch, drift_limit, drift_readout,
                    drift_feed, drift_ref, sim_z, sim_in, sim_feed, z_self, sens, sens_start,
                    sens_end, True,
                )  # fmt: skip
            act_end[count] = finish[i]
            act_task[count] = i
            act_start[count] = t
            _set_row(act_in, count, task_in, i)
            _set_row(act_feed, count, task_feed, i)
            count += 1
            add_row(modal_in, task_in, i, 1.0)
            add_row(feed, task_feed, i, 1.0)
            if drift:
                add_row(in_f, drift_task_in, i, 1.0)
                add_row(wfeed, drift_feed, i, 1.0)
            placed[i] = True
        while head < n and placed[order[head]]:
            head += 1
        if head == n:
            break
        if head > head_before:
            continue  # the window moved on: its new tasks may be ready now
        if next_t == _NEVER:
            next_t = _next_try(t, cool_step, act_end, count)
        t = next_t
    return start, peak, peak_gradient


@njit(cache=True, nogil=True, inline="always")
def _ready(
    i: int,
    release: IntArray,
    lane: IntArray,
    lane_at: IntArray,
    heater_ptr: IntArray,
    heater_idx: IntArray,
    heater_at: IntArray,
    dep_ptr: IntArray,
    dep_idx: IntArray,
    finish: IntArray,
    placed: NDArray[np.bool_],
) -> int:
    """The earliest period row i's release, lane, heaters and dependencies allow (a dependency
    not yet `placed` allows none)."""
    t = max(release[i], lane_at[lane[i]])
    for h in range(heater_ptr[i], heater_ptr[i + 1]):
        t = max(t, heater_at[heater_idx[h]])
    for d in range(dep_ptr[i], dep_ptr[i + 1]):
        if not placed[dep_idx[d]]:
            return _NEVER
        t = max(t, finish[dep_idx[d]])
    return int(t)


@njit(cache=True, nogil=True, inline="always")
def _next_try(t: int, cool_step: int, act_end: IntArray, count: int) -> int:
    """When a task that did not fit at t tries again: the next placed task's end, or
    `cool_step` periods on."""
    later = t + cool_step
    for a in range(count):
        if act_end[a] > t and act_end[a] < later:
            later = act_end[a]
    return later


@njit(cache=True, nogil=True, inline="always")
def _retire_until(
    t: int,
    now: int,
    count: int,
    x: FloatArray,
    decay: FloatArray,
    modal_in: FloatArray,
    feed: FloatArray,
    act_end: IntArray,
    act_task: IntArray,
    act_start: IntArray,
    act_in: FloatArray,
    act_feed: FloatArray,
    drift: bool,
    xf: FloatArray,
    drift_decay: FloatArray,
    in_f: FloatArray,
    wfeed: FloatArray,
    drift_task_in: FloatArray,
    drift_feed: FloatArray,
) -> tuple[int, int]:
    """Move the placed tasks' state from `now` up to t, retiring those that end on the way:
    (t, tasks still active)."""
    while True:
        soonest, which = t + 1, -1
        for a in range(count):
            if act_end[a] <= t and act_end[a] < soonest:
                soonest, which = act_end[a], a
        if which < 0:
            break
        advance_modes(x, decay, modal_in, max(soonest - now, 0))
        if drift:
            advance_modes(xf, drift_decay, in_f, max(soonest - now, 0))
            add_row(in_f, drift_task_in, act_task[which], -1.0)
            add_row(wfeed, drift_feed, act_task[which], -1.0)
        now = max(now, soonest)
        add_row(modal_in, act_in, which, -1.0)
        add_row(feed, act_feed, which, -1.0)
        count -= 1
        act_end[which] = act_end[count]
        act_task[which] = act_task[count]
        act_start[which] = act_start[count]
        _set_row(act_in, which, act_in, count)
        _set_row(act_feed, which, act_feed, count)
    advance_modes(x, decay, modal_in, t - now)
    if drift:
        advance_modes(xf, drift_decay, in_f, t - now)
    return t, count


@njit(cache=True, nogil=True, inline="always")
def _window(
    i: int,
    t: int,
    stop: int,
    count: int,
    x: FloatArray,
    modal_in: FloatArray,
    feed: FloatArray,
    task_in: FloatArray,
    task_feed: FloatArray,
    act_end: IntArray,
    act_in: FloatArray,
    act_feed: FloatArray,
    decay: FloatArray,
    out_t: FloatArray,
    pair_first: IntArray,
    pair_second: IntArray,
    pair_inv_mm: FloatArray,
    xw: FloatArray,
    win_in: FloatArray,
    win_feed: FloatArray,
    ends: IntArray,
    acc: FloatArray,
) -> tuple[float, float]:
    """The hottest limit point and steepest gradient over row i's window [t, stop) with the
    placed tasks active at t."""
    for q in range(xw.shape[0]):
        xw[q] = x[q]
        win_in[q] = modal_in[q] + task_in[i, q]
    for o in range(win_feed.shape[0]):
        win_feed[o] = feed[o] + task_feed[i, o]
    # The first reading at the end of i's first period, as the optimiser reads every
    # period: at t itself, i's residualised fast heat (feedthrough) on top of modes
    # that still hold the heat of tasks ending at t is a state no period ends in
    # (read so, photond's 240-task study plan peaks at 82.59 C, its period ends at 82.50).
    advance_modes(xw, decay, win_in, 1)
    hot = _hottest(out_t, xw, win_feed, acc)
    steep = _steepest(acc, pair_first, pair_second, pair_inv_mm)
    for c in range(count):  # insertion sort: a handful of running tasks
        e = act_end[c]
        j = c
        while j > 0 and ends[j - 1] > e:
            ends[j] = ends[j - 1]
            j -= 1
        ends[j] = e
    w_now = t + 1
    last_e = -1
    for c in range(count):
        e = ends[c]
        if e >= stop:
            break
        if e == last_e:
            continue  # several tasks end together: handled at the first of them
        last_e = e
        advance_modes(xw, decay, win_in, e - w_now)
        w_now = e
        hot = max(hot, _hottest(out_t, xw, win_feed, acc))
        steep = max(steep, _steepest(acc, pair_first, pair_second, pair_inv_mm))
        for a in range(count):
            if act_end[a] == e:
                add_row(win_in, act_in, a, -1.0)
                add_row(win_feed, act_feed, a, -1.0)
    advance_modes(xw, decay, win_in, stop - w_now)
    hot = max(hot, _hottest(out_t, xw, win_feed, acc))
    steep = max(steep, _steepest(acc, pair_first, pair_second, pair_inv_mm))
    return hot, steep


def warm_up() -> None:
    """Compile (or load from numba's cache) both kernels on a toy problem.

    Called before the daemon reports ready, so the first job does not stall its control loop
    for the seconds a first compilation takes.
    """
    one = np.ones(1)
    none_i = np.zeros(0, dtype=np.int64)
    none_f = np.zeros((0, 1))
    forecast_peak(one * 0.5, np.ones((1, 1)), one, one, one, none_i, none_i, none_f, none_f, one)
    retime(
        one * 0.5,
        np.ones((1, 1)),
        one,
        one,
        one,
        100.0,
        none_i,
        none_i,
        np.zeros(0),
        5.0,
        np.zeros(1, dtype=np.int64),
        np.ones(1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        none_i,
        np.zeros(1, dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        none_i,
        np.ones((1, 1)),
        np.ones((1, 1)),
        none_i,
        none_f,
        none_f,
        none_i,
        np.zeros(2, dtype=np.int64),
        none_i,
        np.zeros(0),
        one * 0.5,
        one,
        one,
        np.ones((1, 1)),
        np.zeros((0, 1)),
        np.zeros((1, 0)),
        1,
        10,
        0,
        1,
    )
