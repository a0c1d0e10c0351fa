"""Planning a daemon task graph on a device (`planning.device_plan`): valid, bounded, ordered."""

from __future__ import annotations

import math
from dataclasses import replace

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel_counts import printed_counts
from photon.v1 import job_pb2
from photon_bench.baselines import throttled_list_schedule
from photon_drivers.profile import load_profile
from photond.planning.decoder import NO_DELAY, decode
from photond.planning.device_plan import device_thermal, graph_instance, plan_graph
from photond.planning.optimize import Level, ThermallyInfeasible, least_aging, plan_aging_hours
from photond.planning.plan import DEFAULT_MARGIN_C, PlannedTask
from photond.planning.validator import validate_plan
from photond.rpc.plan_policy import check_plan
from photond.rpc.status import RequestError
from photond.rpc.validation import check_graph

PROFILE = load_profile()
MODEL = device_thermal(PROFILE).compact
LANES = tuple(lane.id for lane in PROFILE.lanes)
HEATERS = [h.id for h in PROFILE.heaters]
ZONES = [z.id for z in PROFILE.zones]


@st.composite
def task_graphs(draw: st.DrawFn) -> job_pb2.TaskGraph:
    n = draw(st.integers(1, 14))
    tasks = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=2)) if i else set()
        heaters = draw(st.sets(st.sampled_from(HEATERS), max_size=3))
        zones = draw(st.sets(st.sampled_from(ZONES), max_size=2))
        tasks.append(
            job_pb2.Task(
                id=f"t{i}",
                duration_s=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0])),
                heater_powers=[
                    job_pb2.HeaterPower(heater_id=h, power_mw=draw(st.sampled_from([2, 5])))
                    for h in sorted(heaters)
                ],
                zone_powers=[
                    job_pb2.ZonePower(zone_id=z, power_mw=draw(st.sampled_from([80, 200])))
                    for z in sorted(zones)
                ],
                allowed_lanes=draw(st.lists(st.sampled_from(LANES[:3]), max_size=2, unique=True)),
                depends_on=[f"t{d}" for d in sorted(deps)],
                release_time_s=draw(st.sampled_from([0.0, 0.0, 0.3])),
                drift_tolerance_rad=draw(st.sampled_from([0.0, 0.0, 0.0, 0.02, 0.2])),
            )
        )
    return job_pb2.TaskGraph(tasks=tasks)


# 15 graphs x 3 levels. The search's default moves per round cost a graph whose heat forces
# long gaps seconds per round (one drawn graph took 15 s at QUALITY, the test 40-50 s in all);
# the properties hold for any number of moves, so the rounds here are short ones.
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_graphs())
def test_plans_are_valid_bounded_and_ordered_by_level(graph: job_pb2.TaskGraph) -> None:
    checked = check_graph(graph, PROFILE, 100)
    spans = []
    for level, rounds in ((Level.FAST, 0), (Level.BALANCED, 2), (Level.QUALITY, 4)):
        plan = plan_graph(
            checked,
            PROFILE,
            level,
            max_rounds=rounds,
            moves_per_round=20,
            time_limit_s=30.0,
            seed=3,
        )
        assert validate_plan(checked, plan.tasks, PROFILE, MODEL) == []
        assert plan.makespan_s >= plan.lower_bound_s - 1e-9
        assert plan.predicted_peak_temperature_c <= PROFILE.limits.max_device_temperature_c
        spans.append(plan.makespan_s)
    assert spans[0] >= spans[1] - 1e-9 >= spans[2] - 2e-9


def _graph(*tasks: job_pb2.Task) -> job_pb2.TaskGraph:
    return job_pb2.TaskGraph(tasks=list(tasks))


def test_heat_forces_a_gap_and_it_is_the_shortest_one() -> None:
    # Every heater at 20 mW is 1.28 W: 64 K at steady state, above the 60 K the limit allows.
    # Fifteen seconds of it stay below the limit; thirty do not, so b must wait for cooling.
    all_on = [job_pb2.HeaterPower(heater_id=h, power_mw=20.0) for h in HEATERS]
    graph = _graph(
        job_pb2.Task(id="a", duration_s=15.0, heater_powers=all_on),
        job_pb2.Task(id="b", duration_s=15.0, heater_powers=all_on, depends_on=["a"]),
    )
    checked = check_graph(graph, PROFILE, 10)
    plan = plan_graph(checked, PROFILE, Level.FAST)
    by_id = {p.task_id: p for p in plan.tasks}
    gap_s = by_id["b"].start_s - by_id["a"].end_s
    assert gap_s > 0.5
    assert validate_plan(checked, plan.tasks, PROFILE, MODEL) == []
    # One control period earlier is too early: the gap is the shortest the limit (less the
    # planner's safety margin) allows.
    b = by_id["b"]
    earlier = PlannedTask("b", b.lane_id, b.start_s - 0.01, b.end_s - 0.01)
    limit_c = PROFILE.limits.max_device_temperature_c - DEFAULT_MARGIN_C
    strict = replace(PROFILE, limits=replace(PROFILE.limits, max_device_temperature_c=limit_c))
    assert validate_plan(checked, [by_id["a"], b], strict, MODEL) == []
    assert validate_plan(checked, [by_id["a"], earlier], strict, MODEL) != []


def test_spreading_tasks_across_zones_beats_serialising_them() -> None:
    # Two tasks per far-apart zone: each zone's pair must take turns (they share heaters), but
    # the zones run side by side, so the optimum is two durations, not four.
    tasks = [
        job_pb2.Task(
            id=f"{zone}-{k}",
            duration_s=1.0,
            zone_powers=[job_pb2.ZonePower(zone_id=zone, power_mw=160.0)],
        )
        for zone in (ZONES[0], ZONES[-1])
        for k in range(2)
    ]
    checked = check_graph(_graph(*tasks), PROFILE, 10)
    plan = plan_graph(checked, PROFILE, Level.BALANCED, max_rounds=2)
    assert plan.makespan_s == 2.0 == plan.lower_bound_s
    assert validate_plan(checked, plan.tasks, PROFILE, MODEL) == []


def test_ten_ms_deadline_on_ten_thousand_tasks_returns_a_valid_plan() -> None:
    tasks = [
        job_pb2.Task(
            id=f"t{i}",
            duration_s=0.05 * (1 + i % 4),
            zone_powers=[job_pb2.ZonePower(zone_id=ZONES[i % len(ZONES)], power_mw=120.0)],
            depends_on=[f"t{i - 8}"] if i >= 8 and i % 3 == 0 else [],
        )
        for i in range(10_000)
    ]
    checked = check_graph(_graph(*tasks), PROFILE, 20_000)
    plan = plan_graph(checked, PROFILE, Level.BALANCED, time_limit_s=0.01)
    assert len(plan.tasks) == 10_000
    assert validate_plan(checked, plan.tasks, PROFILE, MODEL) == []


def test_throttled_baseline_runs_every_task_once_within_lanes_and_heaters() -> None:
    hot = [job_pb2.ZonePower(zone_id=z, power_mw=240.0) for z in ZONES[:1]]
    tasks = [
        job_pb2.Task(
            id=f"t{i}",
            duration_s=1.0,
            zone_powers=[job_pb2.ZonePower(zone_id=ZONES[i % len(ZONES)], power_mw=240.0)],
        )
        for i in range(24)
    ]
    tasks.append(job_pb2.Task(id="last", duration_s=0.5, zone_powers=hot, depends_on=["t0"]))
    checked = check_graph(_graph(*tasks), PROFILE, 100)
    plan = throttled_list_schedule(checked, device_thermal(PROFILE))
    assert validate_plan(checked, plan.tasks, PROFILE, MODEL, thermal=False) == []
    assert plan.makespan_s >= plan.lower_bound_s


def test_equal_makespans_are_broken_by_aging() -> None:
    # One lane: three tasks in a row take 3 s whatever the order, but the order decides how
    # long the die stays hot within the plan's trace.
    tasks = [
        job_pb2.Task(
            id=name,
            duration_s=1.0,
            zone_powers=[job_pb2.ZonePower(zone_id=ZONES[0], power_mw=mw)],
            allowed_lanes=[LANES[0]],
        )
        for name, mw in (("hot", 240.0), ("warm", 120.0), ("cool", 10.0))
    ]
    built = graph_instance(check_graph(_graph(*tasks), PROFILE, 10), device_thermal(PROFILE))
    inst = built.instance
    orders = [np.array(o) for o in ([0, 1, 2], [2, 1, 0], [1, 0, 2])]
    agings = []
    for order in orders:
        makespan, start, _ = decode(inst, order)
        assert makespan == 300
        agings.append(plan_aging_hours(inst.thermal, start, inst.duration, inst.tick_s))
    assert len(set(agings)) == 3
    _, start, _ = least_aging(inst, [(order, NO_DELAY) for order in orders])
    assert plan_aging_hours(inst.thermal, start, inst.duration, inst.tick_s) == min(agings)


def _impossible_graph() -> job_pb2.TaskGraph:
    # Every heater at its maximum for a minute: ~1.9 W against the 1.2 W the package carries
    # away at 85 °C, so the device would pass its limit even starting cold and alone.
    every_heater = [
        job_pb2.HeaterPower(heater_id=h.id, power_mw=h.max_power_mw) for h in PROFILE.heaters
    ]
    return _graph(
        job_pb2.Task(
            id="fine",
            duration_s=1.0,
            zone_powers=[job_pb2.ZonePower(zone_id=ZONES[0], power_mw=50.0)],
        ),
        job_pb2.Task(id="too-hot", duration_s=60.0, heater_powers=every_heater),
    )


def test_a_task_that_can_never_run_is_named() -> None:
    checked = check_graph(_impossible_graph(), PROFILE, 10)
    with pytest.raises(ThermallyInfeasible) as error:
        plan_graph(checked, PROFILE, Level.FAST)
    assert error.value.task == "too-hot"
    with pytest.raises(RequestError) as refused:
        check_plan(checked, PROFILE, 1, 2)
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.field == "graph.tasks[1]"
    assert "too-hot" in refused.value.message


def _one_hot_footprint(footprint_c: float) -> tuple[job_pb2.TaskGraph, float, float]:
    """A 60 s task (steady by its end) with h00 at its maximum and every other heater evenly
    on, so that h00's footprint settles at `footprint_c`; with the steady hottest footprint and
    the steady hottest sensor."""
    heaters = np.zeros(len(HEATERS))
    heaters[0] = PROFILE.heaters[0].max_power_mw
    even = np.ones(len(HEATERS))
    even[0] = 0.0
    rise_hot = MODEL.steady_state_c(heaters, "heaters")[0] - PROFILE.ambient_c
    rise_even = MODEL.steady_state_c(even, "heaters")[0] - PROFILE.ambient_c
    power = heaters + even * (footprint_c - PROFILE.ambient_c - rise_hot) / rise_even
    graph = job_pb2.TaskGraph(
        tasks=[
            job_pb2.Task(
                id="warm",
                duration_s=60.0,
                heater_powers=[
                    job_pb2.HeaterPower(heater_id=h, power_mw=float(p))
                    for h, p in zip(HEATERS, power, strict=True)
                ],
            )
        ]
    )
    return (
        graph,
        float(MODEL.steady_state_c(power, "heaters").max()),
        float(MODEL.steady_state_c(power, "sensors").max()),
    )


def test_a_heater_footprint_is_held_to_the_limit_where_no_sensor_sees_it() -> None:
    limit_c = PROFILE.limits.max_device_temperature_c - DEFAULT_MARGIN_C
    graph, footprint_c, sensor_c = _one_hot_footprint(limit_c + 0.1)
    assert sensor_c < limit_c < footprint_c
    with pytest.raises(ThermallyInfeasible) as error:
        plan_graph(check_graph(graph, PROFILE, 10), PROFILE, Level.FAST)
    assert error.value.task == "warm"


def test_the_validator_names_the_footprint_that_breaks_the_limit() -> None:
    limit_c = PROFILE.limits.max_device_temperature_c
    graph, footprint_c, sensor_c = _one_hot_footprint(limit_c + 0.1)
    assert sensor_c < limit_c < footprint_c
    checked = check_graph(graph, PROFILE, 10)
    plan = plan_graph(checked, PROFILE, Level.FAST, thermal=False)
    problems = validate_plan(checked, plan.tasks, PROFILE, MODEL)
    assert len(problems) == 1
    assert problems[0].startswith(f"heater {HEATERS[0]}'s footprint reaches")


def test_a_chain_takes_its_critical_path_and_says_so() -> None:
    graph = job_pb2.TaskGraph(
        tasks=[
            job_pb2.Task(id=f"t{i}", duration_s=0.5, depends_on=[f"t{i - 1}"] if i else [])
            for i in range(4)
        ]
    )
    plan = plan_graph(check_graph(graph, PROFILE, 100), PROFILE, Level.FAST)
    assert plan.makespan_s == pytest.approx(2.0) == plan.lower_bound_s
    assert plan.gap_to_bound == pytest.approx(0.0)


def test_independent_tasks_spread_over_every_lane() -> None:
    graph = job_pb2.TaskGraph(
        tasks=[job_pb2.Task(id=f"t{i}", duration_s=1.0) for i in range(2 * len(LANES))]
    )
    plan = plan_graph(check_graph(graph, PROFILE, 100), PROFILE, Level.FAST)
    assert plan.makespan_s == pytest.approx(2.0) == plan.lower_bound_s
    assert {p.lane_id for p in plan.tasks} == set(LANES)


def test_tasks_sharing_a_heater_never_overlap_even_on_different_lanes() -> None:
    hp = [job_pb2.HeaterPower(heater_id="h00", power_mw=5)]
    graph = job_pb2.TaskGraph(
        tasks=[
            job_pb2.Task(id="a", duration_s=1, heater_powers=hp, allowed_lanes=["wl0"]),
            job_pb2.Task(id="b", duration_s=1, heater_powers=hp, allowed_lanes=["wl1"]),
        ]
    )
    plan = plan_graph(check_graph(graph, PROFILE, 100), PROFILE, Level.FAST)
    a, b = sorted(plan.tasks, key=lambda p: p.start_s)
    assert a.end_s <= b.start_s + 1e-9
    assert plan.makespan_s == pytest.approx(2.0) == plan.lower_bound_s


@pytest.mark.parametrize("period_s", [0.01, 0.02, 0.05])
def test_every_start_falls_on_the_control_period_grid(period_s: float) -> None:
    graph = job_pb2.TaskGraph(
        tasks=[
            job_pb2.Task(
                id=f"t{i}",
                duration_s=0.013,
                depends_on=[f"t{i - 1}"] if i else [],
                heater_powers=[job_pb2.HeaterPower(heater_id=HEATERS[i % 4], power_mw=5)],
            )
            for i in range(6)
        ]
    )
    plan = plan_graph(check_graph(graph, PROFILE, 100), PROFILE, Level.FAST, period_s=period_s)
    periods = [p.start_s / period_s for p in plan.tasks]
    assert all(abs(k - round(k)) < 1e-6 for k in periods), periods
    # A 13 ms task holds its lane for whole periods: the chain's last start shows the grid.
    assert max(p.start_s for p in plan.tasks) == pytest.approx(
        5 * period_s * math.ceil(0.013 / period_s)
    )


# Run by `printed_counts` in a fresh interpreter, whose `compiled()` it counts with.
_WARM_UP_CHECK = """
from photon_drivers.profile import load_profile
from photond.planning.device_plan import plan_graph, warm_kernels, warm_model
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.optimize import Level

profile = load_profile()
# As a planning process of the daemon warms: every kernel on a sketch of the chip, then only
# the device's model.
warm_kernels(0.01)
warm_model(profile, 0.01)
after_warm_up = compiled()
zones = [z.heater_ids for z in profile.zones]
graphs = [
    CheckedGraph(tuple(
        CheckedTask(f"z{k}-{i}", 1.5, dict.fromkeys(group, 20.0), (), (), 0.0, 0.0, 0,
                    drift_tolerance_rad=0.3 if (k, i) == (1, 0) else 0.0)
        for k, group in enumerate(zones) for i in range(3)
    )),
    CheckedGraph(tuple(
        CheckedTask(f"c{i}", 0.2, {profile.heaters[i].id: 2.0}, (), (), 0.0, 0.0, 0)
        for i in range(20)
    )),
]
for graph in graphs:
    for level in Level:
        plan_graph(graph, profile, level, time_limit_s=0.5, period_s=0.01)
print(after_warm_up, compiled())
"""


def test_warm_up_compiles_every_kernel_a_plan_needs() -> None:
    """A kernel first compiled after warm-up would stall the first real plan for seconds (or
    minutes cold): after the kernels are warmed on the sketch and the device's model is built,
    plans on the device where heat binds and where it does not, at every level, compile
    nothing new."""
    after_warm_up, after_plans = printed_counts(_WARM_UP_CHECK)
    assert after_warm_up > 0
    assert after_plans == after_warm_up
