"""The drift rule: a task that tolerates little phase drift waits out its neighbours' heat."""

from __future__ import annotations

from photon.v1 import job_pb2
from photon_drivers.profile import load_profile
from photond.planning.device_plan import device_thermal, plan_graph
from photond.planning.graph import CheckedGraph
from photond.planning.optimize import Level
from photond.planning.plan import Plan
from photond.planning.validator import validate_plan
from photond.rpc.validation import check_graph

PROFILE = load_profile()
MODEL = device_thermal(PROFILE).compact


def _neighbours(tolerance_rad: float) -> CheckedGraph:
    """Zone z1 (mesh column 1) heated hard for 2 s; a 1 s task on h30, in column 0 beside it."""
    hot = job_pb2.Task(
        id="hot", duration_s=2.0, zone_powers=[job_pb2.ZonePower(zone_id="z1", power_mw=200)]
    )
    sensitive = job_pb2.Task(
        id="sensitive",
        duration_s=1.0,
        heater_powers=[job_pb2.HeaterPower(heater_id="h30", power_mw=10)],
        drift_tolerance_rad=tolerance_rad,
    )
    return check_graph(job_pb2.TaskGraph(tasks=[hot, sensitive]), PROFILE, 10)


def _starts(plan: Plan) -> dict[str, float]:
    return {p.task_id: p.start_s for p in plan.tasks}


def test_without_a_tolerance_the_two_tasks_run_together() -> None:
    plan = plan_graph(_neighbours(0.0), PROFILE, Level.FAST)
    assert _starts(plan) == {"hot": 0.0, "sensitive": 0.0}


def test_a_loose_tolerance_does_not_delay_anything() -> None:
    graph = _neighbours(0.5)
    plan = plan_graph(graph, PROFILE, Level.FAST)
    assert _starts(plan) == {"hot": 0.0, "sensitive": 0.0}
    assert validate_plan(graph, plan.tasks, PROFILE, MODEL) == []


def test_a_tight_tolerance_waits_until_the_neighbour_has_cooled_enough() -> None:
    graph = _neighbours(0.05)
    plan = plan_graph(graph, PROFILE, Level.FAST)
    starts = _starts(plan)
    # FAST takes the list order (hot first): the sensitive task cannot run beside it, nor
    # right after it while column 1 cools, so it starts some time after 2 s.
    assert starts["hot"] == 0.0
    assert starts["sensitive"] > 2.0
    assert validate_plan(graph, plan.tasks, PROFILE, MODEL) == []
    # The same times are a violation for a task that tolerates less, and the validator (its
    # own simulation, no decoder code) says so.
    tighter = _neighbours(0.001)
    assert any("drifts" in p for p in validate_plan(tighter, plan.tasks, PROFILE, MODEL))


def test_the_search_runs_the_sensitive_task_first_instead_of_waiting() -> None:
    graph = _neighbours(0.05)
    fast = plan_graph(graph, PROFILE, Level.FAST)
    balanced = plan_graph(graph, PROFILE, Level.BALANCED, max_rounds=20, seed=1)
    assert balanced.makespan_s < fast.makespan_s
    # Sensitive first (1 s), then the hot zone: it must not start while the sensitive task
    # runs, since its heat would reach h30 at once.
    assert _starts(balanced)["hot"] >= 1.0
    assert validate_plan(graph, balanced.tasks, PROFILE, MODEL) == []


def test_running_together_breaks_the_tolerance_by_the_validator() -> None:
    together = plan_graph(_neighbours(0.0), PROFILE, Level.FAST)
    problems = validate_plan(_neighbours(0.05), together.tasks, PROFILE, MODEL)
    assert any("sensitive drifts" in p for p in problems)
