"""A job's task tables: plans gathered as rows, and the forecast of tasks from an estimate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from photon_drivers.profile import load_profile
from photond.loop.observer import Observer
from photond.model.loop_model import loop_model
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.job_tables import JobForecast
from photond.planning.plan import Plan, PlannedTask
from photond.planning.superposition import task_tables

PROFILE = load_profile()
PERIOD_S = 0.01
LANES = tuple(lane.id for lane in PROFILE.lanes)
IDLE = Observer(PROFILE, PERIOD_S).estimate()


def task(task_id: str, zone: int, power_mw: float = 20.0) -> CheckedTask:
    power = dict.fromkeys(PROFILE.zones[zone].heater_ids, power_mw)
    return CheckedTask(task_id, 0.5, power, (), (), 0.0, 0.0, 0)


GRAPH = CheckedGraph(tuple(task(f"t{i}", i % 4) for i in range(6)))


def plan(order: list[int], lanes: list[str]) -> Plan:
    placed = tuple(
        PlannedTask(f"t{i}", lane, 0.5 * k, 0.5 * k + 0.5)
        for k, (i, lane) in enumerate(zip(order, lanes, strict=True))
    )
    return Plan(placed, 0.5 * len(order), 0.0, "test", 0.0)


def test_a_plan_becomes_rows_starts_and_lane_indices_in_the_plans_order() -> None:
    tables = JobForecast(GRAPH, loop_model(PROFILE, PERIOD_S))
    rows = tables.plan_rows(plan([3, 0, 5], [LANES[1], LANES[0], LANES[1]]), LANES)
    assert rows.rows.tolist() == [3, 0, 5]
    assert rows.start_s.tolist() == [0.0, 0.5, 1.0]
    assert rows.lane.tolist() == [1, 0, 1]


def test_the_same_plan_is_gathered_once_and_a_new_one_again() -> None:
    tables = JobForecast(GRAPH, loop_model(PROFILE, PERIOD_S))
    first = plan([0, 1], [LANES[0], LANES[0]])
    assert tables.plan_rows(first, LANES) is tables.plan_rows(first, LANES)
    second = plan([1, 0], [LANES[0], LANES[0]])
    assert tables.plan_rows(second, LANES).rows.tolist() == [1, 0]
    # Other lanes name other indices: the lanes are part of what is remembered.
    assert tables.plan_rows(second, LANES[::-1]).lane.tolist() == [len(LANES) - 1] * 2


def test_nothing_planned_on_an_idle_chip_forecasts_ambient() -> None:
    tables = JobForecast(GRAPH, loop_model(PROFILE, PERIOD_S))
    forecast = tables.forecast(IDLE, [], [], trace_periods=10)
    assert forecast.peak_c == pytest.approx(PROFILE.ambient_c, abs=1e-6)
    assert np.allclose(forecast.trace_c, PROFILE.ambient_c, atol=1e-6)


def test_a_task_heats_the_chip_and_more_power_heats_it_more() -> None:
    model = loop_model(PROFILE, PERIOD_S)
    graph = CheckedGraph((task("low", 0, 10.0), task("high", 0, 30.0)))
    tables = JobForecast(graph, model)
    low = tables.forecast(IDLE, [(0, 0)], [], trace_periods=60)
    high = tables.forecast(IDLE, [(1, 0)], [], trace_periods=60)
    assert PROFILE.ambient_c < low.peak_c < high.peak_c
    # Linear in power: three times the power, three times the rise.
    rise = (high.peak_c - PROFILE.ambient_c) / (low.peak_c - PROFILE.ambient_c)
    assert rise == pytest.approx(3.0, rel=1e-6)
    # The rise peaks at the end of the 0.5 s run (50 periods) and falls after it.
    assert high.peak_in_s == pytest.approx(0.5, abs=PERIOD_S)
    assert high.trace_c[55] < high.trace_c[49]


def test_a_running_task_counts_until_its_end_period() -> None:
    tables = JobForecast(GRAPH, loop_model(PROFILE, PERIOD_S))
    short = tables.forecast(IDLE, [], [(0, 10)], trace_periods=40)
    long = tables.forecast(IDLE, [], [(0, 30)], trace_periods=40)
    assert short.peak_in_s == pytest.approx(0.10, abs=PERIOD_S)
    assert long.peak_c > short.peak_c


HEATERS = tuple(h.id for h in PROFILE.heaters)


@st.composite
def graphs(draw: st.DrawFn) -> CheckedGraph:
    """Tasks with ids of any text, 0-3 heaters each, and dependencies on earlier tasks."""
    ids = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=40, unique=True))
    tasks = []
    for i, task_id in enumerate(ids):
        heaters = draw(st.lists(st.sampled_from(HEATERS), max_size=3, unique=True))
        powers = draw(st.lists(st.sampled_from([0.0, 1.5, 12.25]), min_size=3, max_size=3))
        deps = draw(st.lists(st.sampled_from(ids[:i]), max_size=3, unique=True)) if i else []
        duration_s = draw(st.sampled_from([1e-4, 0.01, 0.0137, 0.5, 3.0]))
        release_s = draw(st.sampled_from([0.0, 0.25]))
        power = dict(zip(heaters, powers, strict=False))
        tasks.append(CheckedTask(task_id, duration_s, power, (), tuple(deps), release_s, 0.0, 0))
    return CheckedGraph(tuple(tasks))


@settings(max_examples=60, deadline=None)
@given(graphs())
# numpy compares text padded with NULs: a trailing NUL must still sort after its prefix.
@example(CheckedGraph((task("a\x00", 0), task("a", 1), task("\U0010ffff", 2), task("", 3))))
def test_the_tables_hold_each_tasks_own_values_whatever_its_ids(graph: CheckedGraph) -> None:
    # The tables are built through generators and in chunks (a large job's build must not
    # hold the interpreter over every task at once); here, against each task taken alone.
    model = loop_model(PROFILE, PERIOD_S)
    tables = JobForecast(graph, model)
    tasks = graph.tasks
    dt_s = tables.model.dt_s
    assert tables.index == {t.id: i for i, t in enumerate(tasks)}
    assert tables.id_array.tolist() == [t.id for t in tasks]
    by_text = sorted(range(len(tasks)), key=lambda i: tasks[i].id)
    assert [int(r) for r in np.argsort(tables.id_rank)] == by_text
    assert tables.duration.tolist() == [
        max(1, math.ceil(t.duration_s / dt_s - 1e-9)) for t in tasks
    ]
    assert tables.release_s.tolist() == [t.release_time_s for t in tasks]
    heater_pos = {h: k for k, h in enumerate(tables.model.heater_ids)}
    power = np.zeros((len(tasks), tables.model.heaters))
    for i, t in enumerate(tasks):
        row = slice(tables.heater_ptr[i], tables.heater_ptr[i + 1])
        assert tables.heater_idx[row].tolist() == [heater_pos[h] for h in t.heater_power_mw]
        for h, p in t.heater_power_mw.items():
            power[i, heater_pos[h]] = p
        deps = tables.dep_idx[tables.dep_ptr[i] : tables.dep_ptr[i + 1]]
        assert deps.tolist() == [tables.index[d] for d in t.depends_on]
    task_in, task_feed = task_tables(tables.model, power)
    assert np.array_equal(tables.task_in, task_in) and np.array_equal(tables.task_feed, task_feed)
