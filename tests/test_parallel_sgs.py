"""The parallel schedule-generation scheme (`planning.parallel_sgs`): valid, non-delay, in list
order, and within the thermal limits by the trace of the plan it places.

The kernel is called directly with the decoder's argument tuples (`problem_args`,
`thermal_args`); instances without thermal tables take it with the heat check off. The thermal
plans are checked by `thermal_tables.trace_figures`, which plays every period of the plan and
shares no code with the check by superposition the kernel uses.
"""

from __future__ import annotations

import heapq
from dataclasses import replace

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from photon_bench.comparative import EXACT_PERIOD_S, exact_graph
from photon_drivers.profile import load_profile
from photond.planning.decoder import (
    NO_DELAY,
    PARALLEL_ABOVE_TASKS,
    decode,
    problem_args,
    thermal_args,
)
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.instance import Instance, ThermalTables, build_instance
from photond.planning.parallel_sgs import demand_classes, parallel_thermal_kernel
from photond.planning.thermal_check import INFEASIBLE, infeasible_task
from photond.planning.thermal_tables import trace_figures
from photond.planning.validator import validate_schedule

IntArray = NDArray[np.int64]

PROFILE = load_profile()
DEVICE = device_thermal(PROFILE)
TICK_S = DEVICE.model.dt_s
HEATERS = tuple(h.id for h in PROFILE.heaters)
ZONES = tuple(z.heater_ids for z in PROFILE.zones)
LANES = tuple(lane.id for lane in PROFILE.lanes)
# A float tolerance on the limits: the kernel's closed-form jumps and the trace's period by
# period play sum the same terms in another order.
EPS = 1e-9

PLAIN = settings(max_examples=40, deadline=None)
THERMAL = settings(max_examples=30, deadline=None)


def _run(
    inst: Instance, order: IntArray | None = None, delay: IntArray = NO_DELAY
) -> tuple[int, IntArray, IntArray]:
    """(result, start ticks, lanes) of the parallel kernel; unplaced tasks keep start -1."""
    listed = np.arange(inst.n) if order is None else order
    start = np.full(inst.n, -1, dtype=np.int64)
    lane = np.full(inst.n, -1, dtype=np.int64)
    result = parallel_thermal_kernel(
        np.asarray(listed, dtype=np.int64),
        problem_args(inst),
        thermal_args(inst),
        start,
        lane,
        delay,
    )
    return int(result), start, lane


def _topological(inst: Instance, keys: list[float]) -> IntArray:
    """The activity list that takes, among tasks whose predecessors are listed, the least key."""
    waiting = [len(inst.predecessors(i)) for i in range(inst.n)]
    ready = [(keys[i], i) for i in range(inst.n) if waiting[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for s in inst.successors(i).tolist():
            waiting[s] -= 1
            if waiting[s] == 0:
                heapq.heappush(ready, (keys[s], s))
    return np.asarray(order, dtype=np.int64)


@st.composite
def plain_instances(draw: st.DrawFn, min_duration: int = 0) -> tuple[Instance, IntArray]:
    """Random instances without heat (resources, releases, explicit lanes or none), each with a
    random precedence-feasible activity list."""
    n = draw(st.integers(1, 12))
    capacity = draw(st.lists(st.integers(1, 4), max_size=3))
    lanes = draw(st.integers(0, 3))
    lane_mask = None
    if lanes:
        rows = [draw(st.sets(st.integers(0, lanes - 1), min_size=1)) for _ in range(n)]
        lane_mask = np.array([[k in row for k in range(lanes)] for row in rows], dtype=np.bool_)
    inst = build_instance(
        [f"t{i}" for i in range(n)],
        [draw(st.integers(min_duration, 6)) for _ in range(n)],
        [sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)],
        capacity,
        [[(r, draw(st.integers(0, c))) for r, c in enumerate(capacity)] for _ in range(n)],
        release=[draw(st.sampled_from([0, 0, 0, 2, 7])) for _ in range(n)],
        lane_mask=lane_mask,
    )
    keys = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    return inst, _topological(inst, keys)


def _checked(tasks: list[tuple[dict[str, float], int, tuple[int, ...]]]) -> CheckedGraph:
    """Tasks t0, t1, … of (heater powers mW, duration ticks, predecessor indices)."""
    return CheckedGraph(
        tuple(
            CheckedTask(
                f"t{k}", ticks * TICK_S, power, (), tuple(f"t{p}" for p in preds), 0.0, 0.0, 0
            )
            for k, (power, ticks, preds) in enumerate(tasks)
        )
    )


def _zone(z: int, power_mw: float) -> dict[str, float]:
    return dict.fromkeys(ZONES[z], power_mw) if power_mw else {}


@st.composite
def thermal_instances(draw: st.DrawFn) -> tuple[Instance, IntArray]:
    """Random daemon graphs on the device: zones at powers that make heat bind often, unpowered
    and zero-length tasks, dependencies, releases and allowed lanes, with a random list."""
    n = draw(st.integers(2, 7))
    tasks = []
    for i in range(n):
        power = draw(st.sampled_from([240.0, 150.0, 200.0] if i < 2 else [240.0, 0.0, 150.0]))
        deps = draw(st.sets(st.integers(0, i - 1), max_size=2)) if i else set()
        tasks.append(
            CheckedTask(
                id=f"t{i}",
                duration_s=draw(st.sampled_from([300, 500, 0, 40, 150, 800])) * TICK_S,
                heater_power_mw=_zone((i + draw(st.integers(0, 7))) % len(ZONES), power),
                allowed_lanes=tuple(
                    draw(st.lists(st.sampled_from(LANES[:3]), max_size=2, unique=True))
                ),
                depends_on=tuple(f"t{d}" for d in sorted(deps)),
                release_time_s=draw(st.sampled_from([0.0, 0.0, 1.5])),
                deadline_s=0.0,
                priority=0,
            )
        )
    inst = graph_instance(CheckedGraph(tuple(tasks)), DEVICE).instance
    keys = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    return inst, _topological(inst, keys)


def _ends(inst: Instance, start: IntArray) -> IntArray:
    return start + inst.duration


def _available(inst: Instance, start: IntArray, i: int, tau: int) -> bool:
    """Whether task i's release has come and its predecessors have ended by tick tau."""
    ends = _ends(inst, start)
    return bool(inst.release[i] <= tau and all(ends[p] <= tau for p in inst.predecessors(i)))


def _fits(inst: Instance, lane: IntArray, i: int, holders: list[int]) -> bool:
    """Whether task i fits the resources and some allowed lane beside the tasks `holders`
    (a zero-length task holds no lane, the way the kernel treats it)."""
    used = np.zeros(inst.capacity.shape[0], dtype=np.int64)
    for j in holders:
        for r, a in inst.demands(j):
            used[r] += a
    if any(used[r] + a > inst.capacity[r] for r, a in inst.demands(i)):
        return False
    if inst.lanes == 0 or inst.duration[i] == 0:
        return True
    busy = {int(lane[j]) for j in holders}
    return any(inst.lane_mask[i, q] and q not in busy for q in range(inst.lanes))


def _running(inst: Instance, start: IntArray, tau: int) -> list[int]:
    ends = _ends(inst, start)
    return [j for j in range(inst.n) if start[j] <= tau < ends[j]]


def _event_ticks(inst: Instance, start: IntArray) -> list[int]:
    """Tick 0, every release, start and end: what runs and what may start changes only there."""
    ticks = {0, *inst.release.tolist(), *start.tolist(), *_ends(inst, start).tolist()}
    return sorted(ticks)


def _precedence_problems(inst: Instance, start: IntArray) -> list[str]:
    ends = _ends(inst, start)
    return [
        f"{inst.names[i]} starts at {start[i]}, before {inst.names[p]} ends at {ends[p]}"
        for i in range(inst.n)
        for p in inst.predecessors(i).tolist()
        if start[i] < ends[p]
    ]


def _release_problems(inst: Instance, start: IntArray) -> list[str]:
    return [
        f"{inst.names[i]} starts at {start[i]}, before its release {inst.release[i]}"
        for i in range(inst.n)
        if start[i] < inst.release[i]
    ]


def _capacity_problems(inst: Instance, start: IntArray) -> list[str]:
    problems = []
    for tau in _event_ticks(inst, start):
        used = np.zeros(inst.capacity.shape[0], dtype=np.int64)
        for j in _running(inst, start, tau):
            for r, a in inst.demands(j):
                used[r] += a
        problems += [
            f"resource {r} holds {used[r]} of {inst.capacity[r]} at {tau}"
            for r in np.flatnonzero(used > inst.capacity).tolist()
        ]
    return problems


def _lane_problems(inst: Instance, start: IntArray, lane: IntArray) -> list[str]:
    """Tasks off their allowed lanes, and lanes holding two tasks at once (a zero-length task
    holds none, as in the daemon's validator)."""
    if inst.lanes == 0:
        return []
    problems = [
        f"{inst.names[i]} on lane {lane[i]}"
        for i in range(inst.n)
        if not (0 <= lane[i] < inst.lanes and inst.lane_mask[i, lane[i]])
    ]
    for tau in _event_ticks(inst, start):
        on = [int(lane[j]) for j in _running(inst, start, tau)]
        if len(on) != len(set(on)):
            problems.append(f"lanes {sorted(on)} at {tau}")
    return problems


def _delayed(inst: Instance, start: IntArray, lane: IntArray) -> list[tuple[str, int]]:
    """(task, tick) pairs at which a task was available, fitted beside everything running at
    that tick, and yet had not started: the schedule is non-delay when there are none."""
    return [
        (inst.names[i], tau)
        for tau in _event_ticks(inst, start)
        for i in range(inst.n)
        if tau < start[i]
        and _available(inst, start, i, tau)
        and _fits(inst, lane, i, _running(inst, start, tau))
    ]


def _within_limits(th: ThermalTables, start: IntArray, duration: IntArray) -> bool:
    figures = trace_figures(th, start, duration, TICK_S, aging=False)
    return (
        figures.peak_rise_k <= th.max_rise_k + EPS
        and figures.peak_gradient_c_per_mm <= th.max_gradient_c_per_mm + EPS
    )


def _breaks_limits(th: ThermalTables, start: IntArray, duration: IntArray) -> bool:
    figures = trace_figures(th, start, duration, TICK_S, aging=False)
    return (
        figures.peak_rise_k > th.max_rise_k - EPS
        or figures.peak_gradient_c_per_mm > th.max_gradient_c_per_mm - EPS
    )


def _alone(inst: Instance, i: int) -> IntArray:
    """Durations with every task but i cut to nothing: task i's own trace from the start state."""
    duration = np.zeros(inst.n, dtype=np.int64)
    duration[i] = inst.duration[i]
    return duration


# --- Without heat: a valid schedule, and one the parallel scheme's rule makes -----------------


@PLAIN
@given(plain_instances())
def test_every_task_is_placed_and_the_makespan_is_the_last_end(
    case: tuple[Instance, IntArray],
) -> None:
    inst, order = case
    makespan, start, _ = _run(inst, order)
    assert (start >= 0).all()
    assert makespan == int(_ends(inst, start).max())
    # Past the last release, something runs at every tick until the work is done.
    assert makespan <= int(inst.release.max()) + int(inst.duration.sum())


@PLAIN
@given(plain_instances())
def test_a_task_never_starts_before_its_predecessors_end(case: tuple[Instance, IntArray]) -> None:
    inst, order = case
    _, start, _ = _run(inst, order)
    assert _precedence_problems(inst, start) == []


@PLAIN
@given(plain_instances())
def test_a_task_never_starts_before_its_release(case: tuple[Instance, IntArray]) -> None:
    inst, order = case
    _, start, _ = _run(inst, order)
    assert _release_problems(inst, start) == []


@PLAIN
@given(plain_instances())
def test_no_resource_is_ever_used_beyond_its_capacity(case: tuple[Instance, IntArray]) -> None:
    inst, order = case
    _, start, _ = _run(inst, order)
    assert _capacity_problems(inst, start) == []


@PLAIN
@given(plain_instances())
def test_each_task_runs_on_an_allowed_lane_and_a_lane_holds_one_task_at_a_time(
    case: tuple[Instance, IntArray],
) -> None:
    inst, order = case
    _, start, lane = _run(inst, order)
    if inst.lanes == 0:
        assert (lane == -1).all()
    assert _lane_problems(inst, start, lane) == []


@PLAIN
@given(plain_instances())
def test_no_task_waits_while_it_could_start(case: tuple[Instance, IntArray]) -> None:
    # The parallel scheme's schedules are non-delay: no task is held back at a tick at which
    # it is released, its predecessors are done, and it fits beside what runs then.
    inst, order = case
    _, start, lane = _run(inst, order)
    assert _delayed(inst, start, lane) == []


@PLAIN
@given(plain_instances(min_duration=1))
def test_at_each_start_time_the_tasks_that_fit_are_started_in_list_order(
    case: tuple[Instance, IntArray],
) -> None:
    # A task left waiting at a time when others start did not fit beside the tasks already
    # running and those listed before it that started then (zero-length tasks excluded: they
    # make successors eligible in the middle of a scan, which goes back for them).
    inst, order = case
    _, start, lane = _run(inst, order)
    position = {int(task): k for k, task in enumerate(order)}
    ends = _ends(inst, start)
    for tau in sorted(set(start.tolist())):
        for i in range(inst.n):
            if start[i] <= tau or not _available(inst, start, i, tau):
                continue
            before = [
                j
                for j in range(inst.n)
                if start[j] < tau < ends[j] or (start[j] == tau and position[j] < position[i])
            ]
            assert not _fits(inst, lane, i, before), (inst.names[i], tau)


def _idle_or_wait() -> Instance:
    """One unit resource: y (1 tick, released at 1) listed before x (2 ticks, released at 0)."""
    return build_instance(["y", "x"], [1, 2], [[], []], [1], [[(0, 1)], [(0, 1)]], release=[1, 0])


def test_a_later_listed_task_starts_rather_than_leave_the_resource_idle() -> None:
    inst = _idle_or_wait()
    makespan, start, _ = _run(inst, np.array([0, 1]))
    # x takes the idle resource at once; y, released while x runs, follows it.
    assert start.tolist() == [2, 0]
    assert makespan == 3
    # The serial scheme (the decoder's for a small instance without heat) keeps x behind y,
    # which leaves the resource idle at tick 0: the non-delay check above sees that.
    _, serial, serial_lane = decode(inst, np.array([0, 1]))
    assert serial.tolist() == [1, 2]
    assert _delayed(inst, serial, serial_lane) == [("x", 0)]


def test_above_the_serial_limit_the_decoder_uses_the_parallel_scheme() -> None:
    # y (listed first, released at 1) and PARALLEL_ABOVE_TASKS two-tick tasks on one unit.
    n = PARALLEL_ABOVE_TASKS + 1
    inst = build_instance(
        [f"t{i}" for i in range(n)],
        [1] + [2] * (n - 1),
        [[] for _ in range(n)],
        [1],
        [[(0, 1)] for _ in range(n)],
        release=[1] + [0] * (n - 1),
    )
    order = np.arange(n)
    makespan, start, lane = decode(inst, order)
    result, kernel_start, kernel_lane = _run(inst, order)
    assert makespan == result
    assert np.array_equal(start, kernel_start)
    assert np.array_equal(lane, kernel_lane)
    # The serial scheme would start y at 1 and the first two-tick task after it, at 2.
    assert start[:3].tolist() == [2, 0, 3]
    assert validate_schedule(inst, start) == []


# --- With heat: the plan keeps the limits, and heat alone delays ------------------------------


@THERMAL
@given(thermal_instances())
def test_a_thermal_plan_is_valid_and_within_the_limits_by_its_trace(
    case: tuple[Instance, IntArray],
) -> None:
    inst, order = case
    th = inst.thermal
    assert th is not None
    result, start, lane = _run(inst, order)
    zero = np.zeros(inst.n, dtype=np.int64)
    if all(_within_limits(th, zero, _alone(inst, i)) for i in range(inst.n)):
        # Waiting long enough cools the device to where any task that fits alone passes.
        assert result >= 0
    if result < 0:
        # Infeasible names a task that breaks a limit even alone from the initial state.
        event("infeasible")
        named = infeasible_task(result)
        assert named is not None
        assert _breaks_limits(th, zero, _alone(inst, named))
        return
    event("some task waited on heat" if _delayed(inst, start, lane) else "no task waited")
    assert _precedence_problems(inst, start) == []
    assert _release_problems(inst, start) == []
    assert _capacity_problems(inst, start) == []
    assert _lane_problems(inst, start, lane) == []
    assert result == int(_ends(inst, start).max())
    assert _within_limits(th, start, inst.duration)


def _two_zones() -> Instance:
    """Two 3 s tasks at 240 mW a heater on zones at opposite ends: too hot to run together."""
    inst = graph_instance(
        _checked([(_zone(0, 240.0), 300, ()), (_zone(7, 240.0), 300, ())]), DEVICE
    )
    return inst.instance


def test_heat_holds_a_task_back_until_the_first_tick_it_passes() -> None:
    inst = _two_zones()
    th = inst.thermal
    assert th is not None
    _, cold, _ = _run(replace(inst, thermal=None))
    assert cold.tolist() == [0, 0]
    assert _breaks_limits(th, cold, inst.duration)
    makespan, start, _ = _run(inst)
    assert start[0] == 0 < start[1]
    assert makespan == start[1] + 300
    assert _within_limits(th, start, inst.duration)
    earlier = start.copy()
    earlier[1] -= 1
    assert _breaks_limits(th, earlier, inst.duration)


def test_a_hot_device_holds_heating_back_but_not_unpowered_work() -> None:
    inst = graph_instance(_checked([(_zone(0, 240.0), 300, ()), ({}, 100, ())]), DEVICE).instance
    th = inst.thermal
    assert th is not None
    # Start the device in the heating task's own steady state, scaled so that its hottest
    # reading (were it running) is 50 K: below the limit, too warm for another 3 s of it.
    steady = th.task_input[0] / (1.0 - th.decay)
    rise = float((th.readout @ steady + th.task_feed[0]).max())
    warm = replace(inst, thermal=replace(th, initial_modes=steady * 50.0 / rise))
    assert warm.thermal is not None
    _, cold_start, _ = _run(inst)
    assert cold_start.tolist() == [0, 0]
    _, start, _ = _run(warm)
    assert start[1] == 0 < start[0]
    assert _within_limits(warm.thermal, start, inst.duration)
    earlier = start.copy()
    earlier[0] -= 1
    assert _breaks_limits(warm.thermal, earlier, inst.duration)


def _with_rise_limit(inst: Instance, share: float) -> Instance:
    th = inst.thermal
    assert th is not None
    return replace(inst, thermal=replace(th, max_rise_k=th.max_rise_k * share))


def test_a_tighter_limit_never_shortens_a_chain_that_waits_on_heat() -> None:
    # Every heater at 20 mW for 15 s, twice in a row: the second run waits for the device to
    # cool, and the tighter the limit the longer. (For one fixed list this holds along a
    # chain, where each start is its task's earliest passing tick after its predecessor; with
    # tasks side by side a held-back task can let others start sooner, as in any list scheme.)
    all_on = dict.fromkeys(HEATERS, 20.0)
    inst = graph_instance(_checked([(all_on, 1500, ()), (all_on, 1500, (0,))]), DEVICE).instance
    makespans = []
    for share in (1.0, 0.98, 0.95, 0.9):
        tight = _with_rise_limit(inst, share)
        assert tight.thermal is not None
        makespan, start, _ = _run(tight)
        assert makespan > 0
        assert _within_limits(tight.thermal, start, inst.duration)
        makespans.append(makespan)
    assert makespans == sorted(makespans)
    assert makespans[-1] > makespans[0] > 3000


def test_a_task_too_hot_to_run_even_alone_is_named_by_the_result() -> None:
    # Every heater at its maximum for a minute: past the limit even from ambient and alone.
    every_heater = {h.id: h.max_power_mw for h in PROFILE.heaters}
    inst = graph_instance(
        _checked([(_zone(0, 50.0), 100, ()), (every_heater, 6000, ())]), DEVICE
    ).instance
    th = inst.thermal
    assert th is not None
    assert _breaks_limits(th, np.zeros(2, dtype=np.int64), _alone(inst, 1))
    for order in ([0, 1], [1, 0]):
        result, _, _ = _run(inst, np.array(order))
        assert result < INFEASIBLE
        assert infeasible_task(result) == 1


@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(1, 2)), max_size=3, unique_by=lambda d: d[0]
        ),
        min_size=1,
        max_size=30,
    )
)
def test_tasks_share_a_demand_class_exactly_when_their_demands_are_equal(
    rows: list[list[tuple[int, int]]],
) -> None:
    ptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    res = np.asarray([r for row in rows for r, _ in row], dtype=np.int64)
    amt = np.asarray([a for row in rows for _, a in row], dtype=np.int64)
    cls, classes = demand_classes(ptr, res, amt, len(rows))
    assert classes == len({tuple(row) for row in rows})
    for i, a in enumerate(rows):
        for j, b in enumerate(rows):
            assert (cls[i] == cls[j]) == (a == b)


def test_tasks_that_share_one_heater_run_one_after_another_without_gaps() -> None:
    # Every task drives h00, so one runs at a time; the scan at each start ends at the first
    # that does not fit rather than walking the other eligible tasks (which was quadratic).
    tasks: list[tuple[dict[str, float], int, tuple[int, ...]]] = [
        ({"h00": 10.0}, 1, (i - 7,) if i >= 7 and i % 5 == 0 else ()) for i in range(3000)
    ]
    inst = graph_instance(_checked(tasks), DEVICE, margin_c=2.0).instance
    result, start, _ = _run(inst)
    assert result == inst.n
    assert sorted(start.tolist()) == list(range(inst.n))


# --- Held back: delays reach schedules no list reaches ----------------------------------------


def _readiness(inst: Instance, start: IntArray) -> IntArray:
    """Each task's earliest start by its release and its predecessors' ends in `start`."""
    ends = _ends(inst, start)
    return np.array(
        [
            max([int(inst.release[i])] + [int(ends[p]) for p in inst.predecessors(i).tolist()])
            for i in range(inst.n)
        ],
        dtype=np.int64,
    )


def _delays(data: st.DataObject, n: int) -> IntArray:
    ticks = st.sampled_from([0, 0, 0, 1, 37, 250, 900])
    return np.array(data.draw(st.lists(ticks, min_size=n, max_size=n)), dtype=np.int64)


@THERMAL
@given(thermal_instances(), st.data())
def test_a_held_back_task_starts_no_sooner_than_its_delay_after_it_could(
    case: tuple[Instance, IntArray], data: st.DataObject
) -> None:
    inst, order = case
    th = inst.thermal
    assert th is not None
    delay = _delays(data, inst.n)
    result, start, lane = _run(inst, order, delay)
    if result < 0:
        return
    event("held back" if delay.any() else "no delay")
    assert (start >= _readiness(inst, start) + delay).all()
    assert _precedence_problems(inst, start) == []
    assert _capacity_problems(inst, start) == []
    assert _lane_problems(inst, start, lane) == []
    assert result == int(_ends(inst, start).max())
    assert _within_limits(th, start, inst.duration)


@THERMAL
@given(thermal_instances(), st.data())
def test_a_plan_is_decoded_again_from_its_starts_and_their_gaps(
    case: tuple[Instance, IntArray], data: st.DataObject
) -> None:
    """Reachability: list the tasks by start and hold each back by the gap between its start and
    its readiness; the decoder gives back the very plan, lanes included."""
    inst, order = case
    result, start, lane = _run(inst, order, _delays(data, inst.n))
    if result < 0:
        return
    position = np.empty(inst.n, dtype=np.int64)
    position[order] = np.arange(inst.n)
    by_start = np.lexsort((position, start)).astype(np.int64)
    gaps = start - _readiness(inst, start)
    again, start_again, lane_again = _run(inst, by_start, gaps)
    assert again == result
    assert start_again.tolist() == start.tolist()
    assert lane_again.tolist() == lane.tolist()


def test_a_held_back_optimum_that_no_list_reaches_is_decoded_from_its_delays() -> None:
    """The exact study's 8-task instance (docs/study.md, 0.5 s ticks): CP-SAT proves 70 ticks,
    the critical path t2 -> t4. It starts t2 and t3 at 0 and holds t0, t5, t1 and t7 back by 4,
    6, 11 and 20 ticks although the pool has room, so that t4 can start the moment t2 ends.
    Without delays every list starts all of t0..t7 but t4 at tick 0 (non-delay), and the heat
    then keeps t4 waiting: 82 ticks."""
    profile = load_profile()
    device = device_thermal(profile, EXACT_PERIOD_S)
    inst = graph_instance(exact_graph(profile, 8, 0), device).instance
    th = inst.thermal
    assert th is not None
    optimum = np.array([4, 11, 0, 0, 20, 6, 0, 20], dtype=np.int64)
    # The plan is feasible by the independent validator and the trace.
    assert validate_schedule(inst, optimum) == []
    assert _within_limits(th, optimum, inst.duration)
    by_start = np.lexsort((np.arange(8), optimum)).astype(np.int64)
    gaps = optimum - _readiness(inst, optimum)
    assert gaps.tolist() == [4, 11, 0, 0, 0, 6, 0, 20]
    result, start, _ = _run(inst, by_start, gaps)
    assert result == 70
    assert start.tolist() == optimum.tolist()
    # No list alone gets there (all 20160 lists give 82; a sample here, for time).
    rng = np.random.default_rng(0)
    for _ in range(40):
        keys = rng.random(8).tolist()
        result, start, _ = _run(inst, _topological(inst, keys))
        assert result == 82
