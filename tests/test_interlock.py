"""The interlock: trips above the interlock temperature, parks the device, holds the job, and
resumes only below the hysteresis threshold; the emergency stop holds the same way.

Runtime tests run a real `DeviceRuntime` on the simulated chip with a `ManualClock` the loop
advances itself, so device minutes pass in wall seconds and nothing depends on wall timing:
the tests wait for job events, not for time.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from photon.v1 import job_pb2
from photon_drivers.clock import ManualClock
from photon_drivers.interface import SensorSample
from photon_drivers.profile import LimitsSpec, load_profile
from photon_drivers.sim.driver import SimulatedChipDriver
from photond.jobs.book import JobBook, JobRecord
from photond.jobs.journal import Journal
from photond.loop.control_config import ControlConfig
from photond.loop.interlock import PLAUSIBLE_C, Interlock
from photond.loop.runtime import DeviceRuntime
from photond.model import ModelState
from photond.model.loop_model import Estimate
from photond.planning.device_plan import plan_graph
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.optimize import Level
from photond.wire import plan_to_proto

IDS = ("a", "b")
LIMITS = LimitsSpec(interlock_temperature_c=95.0, interlock_hysteresis_c=5.0)


def estimate(values_c: list[float], distrusted: dict[str, str]) -> Estimate:
    return Estimate(
        ModelState(np.zeros(1), np.zeros(1)), 0.0, np.array(values_c), np.array([0.0]), distrusted
    )


def test_interlock_trips_above_the_limit_and_clears_below_the_hysteresis() -> None:
    lock = Interlock(LIMITS, IDS)
    outcomes = []
    for hottest_c in (94.9, 95.2, 92.0, 89.9):
        outcomes.append((lock.check([hottest_c, 30.0], None), lock.holding))
    assert outcomes[0] == (None, "")
    assert outcomes[1][0] is True and "sensor a measured 95.20 °C" in outcomes[1][1]
    assert outcomes[2] == (None, outcomes[1][1]), "between 90 and 95: still held"
    assert outcomes[3] == (False, "")


def test_distrusted_sensor_counts_with_its_estimate() -> None:
    lock = Interlock(LIMITS, IDS)
    hot = estimate([96.0, 30.0], {"a": "nan: the reading is not a number"})
    assert lock.check([math.nan, 30.0], hot) is True
    assert "sensor a estimated 96.00" in lock.holding
    # A dead sensor's rail reading does not hide heat, nor does it trip by itself.
    lock = Interlock(LIMITS, IDS)
    assert lock.check([-40.0, 30.0], estimate([40.0, 30.0], {"a": "out of range"})) is None


READINGS_C = st.one_of(
    st.sampled_from([30.0, 30.5, 31.0, -60.0, 260.0, math.nan, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@given(
    readings_c=st.lists(READINGS_C, min_size=4, max_size=4),
    estimates_c=st.lists(st.floats(-40.0, 200.0), min_size=4, max_size=4),
    distrusted=st.sets(st.sampled_from("abcd")),
    with_estimate=st.booleans(),
)
def test_hottest_is_the_greatest_counted_reading_and_the_greatest_id_among_equals(
    readings_c: list[float], estimates_c: list[float], distrusted: set[str], with_estimate: bool
) -> None:
    # The rule as the module docstring states it, by sorting: a reading counts when it is a
    # plausible number from a trusted sensor; otherwise the sensor's estimate stands in.
    ids = ("a", "b", "c", "d")
    lock = Interlock(LIMITS, ids)
    est = estimate(estimates_c, {i: "test" for i in distrusted}) if with_estimate else None
    low, high = PLAUSIBLE_C
    candidates = []
    for i, (sensor_id, value) in enumerate(zip(ids, readings_c, strict=True)):
        trusted = est is None or sensor_id not in est.distrusted
        if math.isfinite(value) and low <= value <= high and trusted:
            candidates.append((value, sensor_id, "measured"))
        elif est is not None:
            candidates.append((estimates_c[i], sensor_id, "estimated"))
    expected = sorted(candidates)[-1] if candidates else (-math.inf, "", "")
    assert lock.hottest(readings_c, est) == expected


def test_emergency_stop_holds_until_resumed() -> None:
    lock = Interlock(LIMITS, IDS)
    lock.emergency = "door open"
    assert lock.holding == "emergency stop: door open"
    lock.emergency = None
    assert not lock.holding


class ScriptedSim(SimulatedChipDriver):
    """The simulated chip, calling `script(sim)` from the loop thread before every sample."""

    script: Callable[[ScriptedSim], None] = staticmethod(lambda sim: None)

    def read_sensors(self) -> SensorSample:
        self.script(self)
        return super().read_sensors()


class Loop:
    def __init__(self, sim: ScriptedSim, runtime: DeviceRuntime, book: JobBook) -> None:
        self.sim, self.runtime, self.book = sim, runtime, book

    def submit(self, seconds: float) -> JobRecord:
        """A job of zone tasks at 20 mW per heater lasting about `seconds`."""
        profile = self.sim.profile
        tasks = tuple(
            CheckedTask(
                f"t{i}", 0.5, dict.fromkeys(profile.zones[i % 8].heater_ids, 20.0), (), (), 0, 0, 0
            )
            for i in range(int(seconds / 0.5) * 8)
        )
        graph = CheckedGraph(tasks)
        # Planned without heat, so the loop is what must keep the chip safe.
        plan = plan_graph(graph, profile, Level.FAST, thermal=False)
        record = JobRecord(
            job_pb2.Job(id="job", device_id="sim0", schedule=plan_to_proto(plan)), graph, plan
        )
        self.book.submit(record, 0.0)
        self.runtime.enqueue(record)
        return record


@pytest.fixture
def loop() -> Iterator[Loop]:
    sim = ScriptedSim(load_profile(), ManualClock(), seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        book = JobBook(Journal(Path(tmp) / "jobs.sqlite3"))
        control = ControlConfig(mode="open", hold_timeout_s=30.0)
        runtime = DeviceRuntime("sim0", sim, book, 0.01, control=control)
        runtime.start()
        yield Loop(sim, runtime, book)
        runtime.stop()


def wait_for(record: JobRecord, kind: str, timeout_s: float = 60.0) -> job_pb2.JobEvent:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in list(record.events):
            if event.WhichOneof("kind") == kind:
                return event
        time.sleep(0.005)
    raise AssertionError(f"no {kind} event within {timeout_s} s: {record.events[-3:]}")


def stick_all(sim: ScriptedSim, power_mw: float | None) -> None:
    for heater in sim.profile.heaters:
        sim.stick_heater(heater.id, power_mw)


def test_stuck_heaters_trip_the_interlock_and_the_held_job_fails(loop: Loop) -> None:
    record = loop.submit(seconds=60.0)
    wait_for(record, "task_started")
    stick_all(loop.sim, 30.0)  # 1.9 W: the die heads for ~120 °C whatever is commanded
    held = wait_for(record, "held")
    assert held.held.reason.startswith("interlock: sensor")
    assert not any(loop.sim.heater_powers_mw().values()), "commanded powers went to zero"
    assert loop.runtime.serving[0] is False and "interlock" in loop.runtime.serving[1]
    failed = wait_for(record, "failed")
    assert "held for more than 30 s: interlock" in failed.failed.reason
    assert record.job.state == job_pb2.JOB_STATE_FAILED


def test_interlock_resumes_below_the_hysteresis_and_the_job_completes(loop: Loop) -> None:
    # (tripped after the previous pass, hottest reading of that pass), noted in the loop thread.
    passes: list[tuple[bool, float]] = []

    def script(sim: ScriptedSim) -> None:
        tripped = loop.runtime.interlock.tripped is not None
        if tripped and sim._faults.stuck_heaters_mw:
            stick_all(sim, None)  # the fault clears right after the trip; the chip cools
        frame = loop.runtime.hub.latest
        if frame is not None:
            passes.append((tripped, max(frame.temperature_c)))

    loop.sim.script = script
    record = loop.submit(seconds=20.0)
    wait_for(record, "task_started")
    stick_all(loop.sim, 30.0)
    wait_for(record, "held")
    wait_for(record, "resumed")
    wait_for(record, "completed")
    assert record.job.state == job_pb2.JOB_STATE_COMPLETED
    first = next(i for i, (tripped, _) in enumerate(passes) if tripped)
    cleared = next(i for i in range(first, len(passes)) if not passes[i][0])
    assert passes[first][1] > 95.0, "tripped above the interlock temperature"
    assert all(hot >= 90.0 for _, hot in passes[first:cleared]), "held until below 90 °C"
    assert passes[cleared][1] < 90.0, "resumed once below interlock - hysteresis"


def test_emergency_stop_parks_and_resume_continues(loop: Loop) -> None:
    record = loop.submit(seconds=10.0)
    wait_for(record, "task_started")
    loop.runtime.emergency_stop("operator pressed stop")
    held = wait_for(record, "held")
    assert held.held.reason == "emergency stop: operator pressed stop"
    assert loop.runtime.serving == (False, "emergency stop: operator pressed stop")
    assert not any(loop.sim.heater_powers_mw().values())
    loop.runtime.resume()
    wait_for(record, "resumed")
    wait_for(record, "completed")
    assert loop.runtime.serving == (True, "")
