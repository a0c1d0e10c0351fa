"""Carrying out a plan: the device is the truth, the plan a prediction.

Runs on the simulated chip with a manual clock and a real journal; each test steps the
execution as the device loop would, once per control period.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from photon.v1 import job_pb2
from photon_drivers.clock import ManualClock
from photon_drivers.profile import load_profile
from photon_drivers.sim.driver import SimulatedChipDriver
from photond.jobs.book import JobBook, JobRecord
from photond.jobs.journal import Journal
from photond.loop.execution import Execution
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.plan import Plan, PlannedTask
from photond.wire import plan_to_proto

PERIOD_S = 0.01


def task(task_id: str, duration_s: float, *deps: str, heater: str = "") -> CheckedTask:
    power = {heater: 10.0} if heater else {}
    return CheckedTask(task_id, duration_s, power, (), deps, 0.0, 0.0, 0)


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.clock = ManualClock()
        self.driver = SimulatedChipDriver(load_profile(), self.clock, seed=1)
        self.book = JobBook(Journal(tmp / "jobs.sqlite3"))

    def execution(
        self, tasks: tuple[CheckedTask, ...], planned: tuple[PlannedTask, ...]
    ) -> Execution:
        graph = CheckedGraph(tasks)
        plan = Plan(planned, max(p.end_s for p in planned), 0.0, "test", 0.0)
        record = JobRecord(
            job_pb2.Job(id="job", device_id="sim0", schedule=plan_to_proto(plan)), graph, plan
        )
        self.book.submit(record, 0.0)
        return Execution(record, self.driver, self.book, self.clock.now_s())

    def run(self, execution: Execution, seconds: float, may_start: bool = True) -> None:
        for _ in range(round(seconds / PERIOD_S)):
            self.clock.advance(PERIOD_S)
            execution.step(self.clock.now_s(), self.driver.read_sensors(), may_start)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield Rig(tmp_path)


def test_a_successor_waits_for_its_dependency_to_really_finish(rig: Rig) -> None:
    # The plan says b starts at 0.5 s, but a (1 s) cannot be done by then.
    tasks = (task("a", 1.0), task("b", 0.2, "a"))
    execution = rig.execution(
        tasks, (PlannedTask("a", "wl0", 0.0, 1.0), PlannedTask("b", "wl1", 0.5, 0.7))
    )
    rig.run(execution, 0.8)
    assert execution.running_task_ids == ("a",)
    rig.run(execution, 1.0)
    assert execution.done
    ran = {t.task_id: t for t in execution.result(rig.clock.now_s()).tasks}
    assert ran["b"].start_s >= ran["a"].end_s - 1e-9


def test_heaters_carry_exactly_the_running_tasks_powers(rig: Rig) -> None:
    tasks = (task("a", 0.5, heater="h00"), task("b", 1.0, heater="h11"))
    execution = rig.execution(
        tasks, (PlannedTask("a", "wl0", 0.0, 0.5), PlannedTask("b", "wl1", 0.0, 1.0))
    )
    rig.run(execution, 0.1)
    assert execution.heater_powers_mw == {"h00": 10.0, "h11": 10.0}
    assert rig.driver.heater_powers_mw()["h00"] == 10.0
    rig.run(execution, 0.5)
    assert execution.heater_powers_mw == {"h11": 10.0}
    assert rig.driver.heater_powers_mw()["h00"] == 0.0
    execution.stop(rig.clock.now_s())
    assert execution.power_mw == 0.0


def test_a_held_job_runs_its_cut_off_task_again_from_its_start(rig: Rig) -> None:
    execution = rig.execution((task("a", 0.5, heater="h00"),), (PlannedTask("a", "wl0", 0.0, 0.5),))
    rig.run(execution, 0.2)
    execution.hold(rig.clock.now_s())
    assert [p.task_id for p in execution.pending] == ["a"] and not execution.running
    rig.run(execution, 0.3, may_start=False)
    assert execution.pending
    rig.run(execution, 0.6)
    ran = execution.result(rig.clock.now_s()).tasks
    assert [t.task_id for t in ran] == ["a"]
    assert ran[0].end_s - ran[0].start_s == pytest.approx(0.5, abs=PERIOD_S)


def test_energy_is_power_times_time(rig: Rig) -> None:
    execution = rig.execution((task("a", 1.0, heater="h00"),), (PlannedTask("a", "wl0", 0.0, 1.0),))
    rig.run(execution, 1.5)
    result = execution.result(rig.clock.now_s())
    assert result.energy_mj == pytest.approx(10.0 * 1.0, rel=0.02)
