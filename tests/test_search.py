"""The search (`planning.search`): where heat binds, it holds tasks back to reach schedules that
no activity list alone decodes to; without heat it searches lists only, as it did."""

from __future__ import annotations

from dataclasses import replace

from photon_bench.comparative import EXACT_PERIOD_S, exact_graph
from photon_drivers.profile import load_profile
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.instance import Instance
from photond.planning.optimize import Level, optimize, within_limits
from photond.planning.search import RoundProblem, lft_population, tempering_round
from photond.planning.validator import validate_schedule


def _exact_eight() -> Instance:
    """The exact study's 8-task instance (docs/study.md): CP-SAT proves 70 ticks, which needs
    tasks held back while the pool has room (tests/test_parallel_sgs.py shows the schedule)."""
    profile = load_profile()
    device = device_thermal(profile, EXACT_PERIOD_S)
    return graph_instance(exact_graph(profile, 8, 0), device).instance


def test_the_search_holds_tasks_back_to_reach_the_proven_optimum() -> None:
    inst = _exact_eight()
    assert inst.thermal is not None
    # FAST's plan is the non-delay one every list decodes to.
    assert optimize(inst, Level.FAST).makespan_ticks == 82
    for seed in range(3):
        plan = optimize(inst, Level.BALANCED, seed=seed, max_rounds=3)
        assert plan.makespan_ticks == 70, seed
        assert validate_schedule(inst, plan.start) == []
        assert within_limits(inst.thermal, plan.start, inst.duration)


def test_without_hold_moves_the_search_stays_at_the_non_delay_plans() -> None:
    inst = _exact_eight()
    for seed in range(2):
        plan = optimize(inst, Level.BALANCED, seed=seed, max_rounds=3, hold_moves=False)
        assert plan.makespan_ticks == 82, seed
    assert RoundProblem.of(inst, hold_moves=False).hold_ticks == 0


def test_without_heat_no_replica_carries_delays() -> None:
    inst = _exact_eight()
    plain = replace(inst, thermal=None)
    problem = RoundProblem.of(plain)
    assert problem.hold_ticks == 0
    pop = lft_population(plain, problem, replicas=4, seed=0)
    tempering_round(pop, 10, problem)
    assert pop.delays.shape == (4, 0)
    assert RoundProblem.of(inst).hold_ticks > 0
