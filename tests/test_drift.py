"""Drift limits: a tolerance in radians becomes the footprint change it allows, in kelvin; and
the one drift rule the optimiser and the loop's re-time hold (drift.drift_reading_violates)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from photon_bench.comparative import photond_plan, synthetic_workload
from photon_drivers.profile import load_profile
from photond.loop.observer import Observer
from photond.model.loop_model import loop_model
from photond.model.metrics import SILICON_DN_DT_PER_K
from photond.planning.device_plan import plan_graph
from photond.planning.drift import drift_limits_k
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.job_tables import JobForecast
from photond.planning.optimize import Level
from photond.planning.plan import Plan
from photond.planning.replan import Remaining, RemainingProblem

PROFILE = load_profile()
HEATERS = tuple(h.id for h in PROFILE.heaters)


def task(task_id: str, tolerance_rad: float, lanes: tuple[str, ...] = ()) -> CheckedTask:
    return CheckedTask(task_id, 1.0, {"h00": 5.0}, lanes, (), 0.0, 0.0, 0, tolerance_rad)


def test_no_tolerance_anywhere_means_no_limits() -> None:
    assert drift_limits_k(CheckedGraph((task("a", 0.0),)), PROFILE, HEATERS) is None


def test_the_limit_is_the_tolerance_over_the_phase_per_kelvin() -> None:
    limits = drift_limits_k(CheckedGraph((task("a", 0.05), task("b", 0.0))), PROFILE, HEATERS)
    assert limits is not None
    heater = PROFILE.heaters[0]
    shortest_m = min(lane.wavelength_nm for lane in PROFILE.lanes) * 1e-9
    rad_per_k = 2 * math.pi * heater.waveguide_length_mm * 1e-3 * SILICON_DN_DT_PER_K / shortest_m
    assert limits[0, 0] == pytest.approx(0.05 / rad_per_k)
    assert math.isinf(limits[1, 0])


def test_a_longer_wavelength_lane_allows_more_drift() -> None:
    lanes = sorted(PROFILE.lanes, key=lambda lane: lane.wavelength_nm)
    graph = CheckedGraph((task("short", 0.05, (lanes[0].id,)), task("long", 0.05, (lanes[-1].id,))))
    limits = drift_limits_k(graph, PROFILE, HEATERS)
    assert limits is not None
    assert limits[1, 0] / limits[0, 0] == pytest.approx(
        lanes[-1].wavelength_nm / lanes[0].wavelength_nm
    )


def _zone_job(tasks: int, seed: int) -> CheckedGraph:
    """Zone tasks of 0.2-0.6 s at 12 mW per heater, every 3rd tolerating 0.05 rad: drift binds
    (neighbours wait for a sensitive task) while the temperature limits stay far off."""
    rng = np.random.default_rng(seed)
    zones = PROFILE.zones
    return CheckedGraph(
        tuple(
            CheckedTask(
                f"t{i}",
                float(rng.choice([0.2, 0.4, 0.6])),
                dict.fromkeys(zones[int(rng.integers(len(zones)))].heater_ids, 12.0),
                (),
                (),
                0.0,
                0.0,
                0,
                0.05 if i % 3 == 2 else 0.0,
            )
            for i in range(tasks)
        )
    )


def _retimed_at_planned_starts(
    graph: CheckedGraph, plan: Plan, *, released: bool = True
) -> tuple[Any, Any, float, float]:
    """photond's plan re-timed from the idle state it was planned in, each task released at
    its planned start (or free, as a re-plan places it): (starts, planned starts) in the
    re-time's row order, the peak, and when the last task ends (s)."""
    model = loop_model(PROFILE, 0.01)
    forecast = JobForecast(graph, model, drift_limits_k(graph, PROFILE, model.heater_ids))
    remaining = Remaining(
        tuple(p.task_id for p in plan.tasks),
        (),
        forecast,
        0.0,
        plan,
        PROFILE.limits.max_device_temperature_c - 2.5,
        PROFILE.limits.max_thermal_gradient_c_per_mm,
    )
    lanes = tuple(lane.id for lane in PROFILE.lanes)
    problem = RemainingProblem(remaining, lanes, Observer(PROFILE, 0.01).estimate())
    planned = {p.task_id: round(p.start_s / 0.01) for p in plan.tasks}
    want = np.array([planned[forecast.id_array[r]] for r in problem.rows])
    if released:
        problem.release = want.copy()
    start, peak_c, _ = problem.retime(np.arange(problem.n, dtype=np.int64), problem.lane)
    return start, want, peak_c, problem.span(start) * 0.01


@pytest.mark.parametrize("seed", [0, 1])
def test_the_re_time_accepts_every_placement_the_optimiser_accepted(seed: int) -> None:
    # One rule in two kernels: re-timing photond's own plan from the state it was planned in,
    # each task released at its planned start, must give back the planned starts. With the
    # re-time's own drift rule (read at each period's start on the 6-mode model, the reference
    # at the start instant, same-tick starts in id order) it delayed tasks the optimiser placed.
    graph = _zone_job(40, seed)
    plan = plan_graph(graph, PROFILE, Level.BALANCED, seed=seed, max_rounds=1, margin_c=2.5)
    start, want, peak_c, _ = _retimed_at_planned_starts(graph, plan)
    assert peak_c < PROFILE.limits.max_device_temperature_c - 3.5  # the limits play no part
    assert sum(t.drift_tolerance_rad > 0 for t in graph.tasks) >= 10
    np.testing.assert_array_equal(start, want)


def test_the_re_time_gives_back_the_study_plan_where_heat_binds_too() -> None:
    # The comparative study's synthetic job (240 zone tasks at 28 mW, every 10th tolerating
    # 0.5 rad): the temperature limits bind as well, and same-tick starts beside sensitive
    # tasks abound. Needs the re-time to hold the optimiser's limits on its full model and
    # same-tick sensitive tasks to be re-timed last (docs/optimizer.md §2).
    graph = synthetic_workload(PROFILE, 240, 0)
    plan = photond_plan(graph, PROFILE, 0, 2)
    start, want, peak_c, _ = _retimed_at_planned_starts(graph, plan)
    assert peak_c > PROFILE.limits.max_device_temperature_c - 2.6  # heat binds
    np.testing.assert_array_equal(start, want)
    # Free, as a re-plan re-times it, it ends when planned: a held-back task tries again every
    # period (with 10-period waits this plan re-timed to 21.0 s against 16.2 s).
    _, _, _, span_s = _retimed_at_planned_starts(graph, plan, released=False)
    assert span_s <= plan.makespan_s + 1e-9
