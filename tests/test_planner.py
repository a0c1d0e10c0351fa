"""List scheduling: every task once, after its dependencies, within lanes and heaters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photon.v1 import job_pb2
from photon_drivers.profile import load_profile
from photond.planner import Plan, lower_bound_s, plan_list_schedule
from photond.validation import CheckedGraph, check_graph

PROFILE = load_profile()
LANES = tuple(lane.id for lane in PROFILE.lanes)
HEATERS = [h.id for h in PROFILE.heaters]


def assert_feasible(graph: CheckedGraph, plan: Plan, lanes: tuple[str, ...]) -> None:
    """The independent check: written against the definitions, not the planner's code."""
    tasks = graph.by_id()
    placed = {p.task_id: p for p in plan.tasks}
    assert sorted(placed) == sorted(tasks), "every task exactly once"
    for p in plan.tasks:
        task = tasks[p.task_id]
        assert p.end_s - p.start_s == pytest.approx(task.duration_s)
        assert p.start_s >= task.release_time_s
        assert p.lane_id in (task.allowed_lanes or lanes)
        for dep in task.depends_on:
            assert placed[dep].end_s <= p.start_s, f"{p.task_id} starts before {dep} ends"
    for a in plan.tasks:
        for b in plan.tasks:
            if a.task_id >= b.task_id or a.start_s >= b.end_s or b.start_s >= a.end_s:
                continue
            assert a.lane_id != b.lane_id, f"{a.task_id} and {b.task_id} overlap on a lane"
            shared = set(tasks[a.task_id].heater_power_mw) & set(tasks[b.task_id].heater_power_mw)
            assert not shared, f"{a.task_id} and {b.task_id} both drive {shared}"
    assert plan.makespan_s >= plan.lower_bound_s - 1e-9


@st.composite
def task_graphs(draw: st.DrawFn) -> job_pb2.TaskGraph:
    n = draw(st.integers(1, 30))
    tasks = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        heaters = draw(st.sets(st.sampled_from(HEATERS[:12]), max_size=3))
        tasks.append(
            job_pb2.Task(
                id=f"t{i}",
                duration_s=draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0])),
                heater_powers=[
                    job_pb2.HeaterPower(heater_id=h, power_mw=10) for h in sorted(heaters)
                ],
                allowed_lanes=draw(st.lists(st.sampled_from(LANES[:3]), max_size=2, unique=True)),
                depends_on=[f"t{d}" for d in sorted(deps)],
                release_time_s=draw(st.sampled_from([0.0, 0.0, 0.3])),
                priority=draw(st.integers(0, 2)),
            )
        )
    return job_pb2.TaskGraph(tasks=tasks)


@settings(max_examples=150, deadline=None)
@given(task_graphs(), st.integers(1, 8))
def test_random_graphs_get_feasible_plans(graph: job_pb2.TaskGraph, lane_count: int) -> None:
    lanes = LANES[:lane_count]
    # Tasks may only name lanes this test device has.
    for task in graph.tasks:
        kept = [lane for lane in task.allowed_lanes if lane in lanes]
        del task.allowed_lanes[:]
        task.allowed_lanes.extend(kept)
    checked = check_graph(graph, PROFILE, 1000)
    assert_feasible(checked, plan_list_schedule(checked, lanes), lanes)


def test_chain_makespan_is_its_critical_path() -> None:
    graph = job_pb2.TaskGraph(
        tasks=[
            job_pb2.Task(id=f"t{i}", duration_s=0.5, depends_on=[f"t{i - 1}"] if i else [])
            for i in range(4)
        ]
    )
    checked = check_graph(graph, PROFILE, 100)
    plan = plan_list_schedule(checked, LANES)
    assert plan.makespan_s == 2.0 == plan.lower_bound_s
    assert plan.gap_to_bound == 0.0


def test_independent_tasks_spread_over_lanes() -> None:
    graph = job_pb2.TaskGraph(tasks=[job_pb2.Task(id=f"t{i}", duration_s=1.0) for i in range(16)])
    checked = check_graph(graph, PROFILE, 100)
    plan = plan_list_schedule(checked, LANES)
    assert plan.makespan_s == 2.0 == lower_bound_s(checked, len(LANES))


def test_tasks_sharing_a_heater_never_overlap_even_on_different_lanes() -> None:
    hp = [job_pb2.HeaterPower(heater_id="h00", power_mw=20)]
    graph = job_pb2.TaskGraph(
        tasks=[
            job_pb2.Task(id="a", duration_s=1, heater_powers=hp, allowed_lanes=["wl0"]),
            job_pb2.Task(id="b", duration_s=1, heater_powers=hp, allowed_lanes=["wl1"]),
        ]
    )
    checked = check_graph(graph, PROFILE, 100)
    plan = plan_list_schedule(checked, LANES)
    assert plan.makespan_s == 2.0
    assert_feasible(checked, plan, LANES)
