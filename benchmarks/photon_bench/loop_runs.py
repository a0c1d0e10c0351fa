"""The closed-loop benchmark's pieces: scenarios, the workload, the original plan, one run.

Shared by benchmarks/closed_loop.py (which prints the table) and the tests that assert each
scenario (tests/test_closed_loop.py) and trace a re-plan (tests/test_tracing.py). A run drives a
real `DeviceRuntime` on the simulated chip in manual device time and records the plant's *true*
hottest cell every period: "time above the limit" is the time that cell spends above
`max_device_temperature_c` (docs/thermal-limits.md).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from photon.v1 import job_pb2
from photon_drivers.clock import ManualClock
from photon_drivers.interface import SensorSample
from photon_drivers.profile import DeviceProfile
from photon_drivers.sim.driver import SimulatedChipDriver
from photond.jobs.book import JobBook, JobRecord
from photond.jobs.journal import Journal
from photond.loop.control_config import ControlConfig
from photond.loop.observer import Observer
from photond.loop.runtime import DeviceRuntime
from photond.model import ModelState
from photond.model.loop_model import loop_model
from photond.planning.device_plan import plan_graph
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.job_tables import JobForecast
from photond.planning.optimize import Level
from photond.planning.plan import Plan
from photond.planning.replan import Remaining, replan
from photond.wire import plan_to_proto

PERIOD_S = 0.01
MARGIN_C = 2.0

# name -> (sim options, whether physics lets a schedule stay below the limit)
SCENARIOS: dict[str, tuple[dict[str, str], bool]] = {
    "undisturbed": ({}, True),
    "ambient +10 C": ({"ambient_step_c": "10", "ambient_step_at_s": "3"}, True),
    "cooling x1.5": ({"cooling_factor": "1.5", "cooling_at_s": "3"}, True),
    "plant -20 % G": ({"plant_mismatch": "-0.2"}, True),
    "plant +20 % G": ({"plant_mismatch": "0.2"}, True),
    "noise x5": ({"noise_scale": "5"}, True),
    "stuck sensor": ({"stuck_sensor": "s11@3"}, True),
    "dead sensor": ({"dead_sensor": "s12@3"}, True),
    "h33 stuck 25 mW": ({"heater_stuck_on": "h33:25@3"}, True),
    "all heaters stuck": ({"heater_stuck_on": "all:30@6"}, False),
}
MODES = ("open", "reactive", "closed")


class RecordingSim(SimulatedChipDriver):
    """The simulated chip, noting its true hottest cell and the wall time at every sample.

    `pace`: while it returns True (`ClosedLoop.computing`: a re-time, search or forecast under
    way off the loop thread), each pass lasts at least `pace_s` of wall time, as on a real
    clock. Unpaced, the loop in manual time runs 10-30 times faster than real time, and a
    drift job's re-time on the worker (tens of ms, during which no task starts) cost it 0.2 to
    0.5 s of device time instead of a few periods: 2.9 s of a 23 s job under an ambient step
    in one run (benchmarks/regret.py compares both).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.true_max_c: list[float] = []
        self.pass_wall_s: list[float] = []
        self._last_wall = time.perf_counter()
        self.pace: Callable[[], bool] | None = None
        self.pace_s = 0.0

    def read_sensors(self) -> SensorSample:
        now = time.perf_counter()
        self.pass_wall_s.append(now - self._last_wall)
        if self.pace is not None and self.pace():
            time.sleep(max(0.0, self.pace_s - (now - self._last_wall)))
            now = time.perf_counter()
        self._last_wall = now
        sample = super().read_sensors()
        self.true_max_c.append(float(self.true_temperatures_c().max()))
        return sample


def workload(profile: DeviceProfile, count: int, seed: int = 0) -> CheckedGraph:
    """`count` zone tasks at 24 mW per heater, 0.2-0.6 s, any lane; every 5th follows one."""
    rng = np.random.default_rng(seed)
    tasks = []
    for i in range(count):
        zone = profile.zones[i % len(profile.zones)]
        deps = (f"t{i - 7}",) if i >= 7 and i % 5 == 0 else ()
        tasks.append(
            CheckedTask(
                id=f"t{i}",
                duration_s=float(rng.choice([0.2, 0.4, 0.6])),
                heater_power_mw=dict.fromkeys(zone.heater_ids, 24.0),
                allowed_lanes=(),
                depends_on=deps,
                release_time_s=0.0,
                deadline_s=0.0,
                priority=0,
            )
        )
    return CheckedGraph(tuple(tasks))


def original_plan(profile: DeviceProfile, graph: CheckedGraph) -> Plan:
    """The plan every mode starts from: the daemon's own (SubmitJob's optimiser, BALANCED),
    from the idle chip, peaking the closed loop's planning margin below max temperature."""
    return plan_graph(graph, profile, Level.BALANCED, margin_c=ControlConfig().planning_margin_c)


@dataclass
class RunResult:
    scenario: str
    mode: str
    time_above_limit_s: float
    peak_true_c: float
    makespan_s: float
    state: str
    replans: int
    # Plans the off-thread search swapped in, and the remaining makespan they saved in all.
    searched: int
    search_gain_s: float
    # Forecasts that crossed the trigger and the full model did not confirm (no re-plan).
    unconfirmed: int
    replan_p50_ms: float
    replan_p99_ms: float
    jitter_p99_ms: float
    pass_p99_ms: float
    interlock: str
    # The closed-loop event kinds the job saw, in order of first appearance.
    events: list[str] = field(default_factory=list)


def run(
    profile: DeviceProfile,
    graph: CheckedGraph,
    plan: Plan,
    scenario: str,
    mode: str,
    options: Mapping[str, str] | None = None,
    hold_timeout_s: float = 10.0,
    confirm_forecasts: bool = True,
    paced: bool = True,
) -> RunResult:
    """Run the job once on a fresh simulated chip; see the module docstring.

    `confirm_forecasts` False takes the closed loop's old forecast trigger (the forecast
    model alone, no full-model confirmation: `ClosedLoop.confirm_forecasts`), for
    benchmarks/regret.py's side-by-side comparison. `paced` False runs off-loop work at
    manual time's pace (`RecordingSim`), as runs did before.
    """
    clock = ManualClock()
    sim = RecordingSim.open({**SCENARIOS.get(scenario, ({}, True))[0], **(options or {})}, clock)
    with tempfile.TemporaryDirectory() as tmp:
        book = JobBook(Journal(Path(tmp) / "jobs.sqlite3"))
        control = ControlConfig(mode=mode, margin_c=MARGIN_C, hold_timeout_s=hold_timeout_s)
        runtime = DeviceRuntime("sim0", sim, book, PERIOD_S, control=control)
        runtime.control.confirm_forecasts = confirm_forecasts
        if paced:
            sim.pace, sim.pace_s = runtime.control.computing, PERIOD_S
        job = job_pb2.Job(id=f"job-{mode}", device_id="sim0", schedule=plan_to_proto(plan))
        record = JobRecord(job=job, graph=graph, plan=plan)
        book.submit(record, 0.0)
        runtime.start()
        runtime.enqueue(record)
        while not record.terminal:
            time.sleep(0.02)
        runtime.stop()
        # Read while the journal is there: a finished job's events live in it (EventLog.spill).
        events = list(record.events)
    stats = runtime.control.stats
    latency_ms = np.array(stats.replan_latency_s) * 1e3
    true_c = np.array(sim.true_max_c)
    limit = profile.limits.max_device_temperature_c
    kinds = [e.WhichOneof("kind") or "" for e in events]
    held = [e.held.reason for e in events if e.WhichOneof("kind") == "held"]
    return RunResult(
        scenario=scenario,
        mode=mode,
        time_above_limit_s=float((true_c > limit).sum() * PERIOD_S),
        peak_true_c=float(true_c.max()),
        makespan_s=record.job.result.makespan_s,
        state=job_pb2.JobState.Name(record.job.state).removeprefix("JOB_STATE_").lower(),
        replans=stats.replans,
        searched=stats.searched,
        search_gain_s=float(sum(stats.search_gain_s)),
        unconfirmed=stats.unconfirmed,
        replan_p50_ms=float(np.percentile(latency_ms, 50)) if len(latency_ms) else 0.0,
        replan_p99_ms=float(np.percentile(latency_ms, 99)) if len(latency_ms) else 0.0,
        jitter_p99_ms=float(np.percentile(stats.jitter_s.values(), 99) * 1e3),
        pass_p99_ms=float(np.percentile(np.array(sim.pass_wall_s[1:]), 99) * 1e3),
        interlock=f"tripped x{len(held)}" if held else "-",
        events=list(dict.fromkeys(k for k in kinds if k in ("replanned", "held", "resumed"))),
    )


def replan_latency(profile: DeviceProfile, count: int, repeats: int) -> dict[str, float]:
    """Re-plan a `count`-task remainder `repeats` times from a warm chip; ms percentiles."""
    graph = workload(profile, count, seed=1)
    plan = original_plan(profile, graph)
    fc = JobForecast(graph, loop_model(profile, PERIOD_S))
    observer = Observer(profile, PERIOD_S)
    warm = observer.model.steady_modes(np.append(np.full(observer.model.heaters, 12.0), 5.0))
    observer.reset(ModelState(warm, np.zeros(observer.model.heaters)), 5.0)
    estimate = observer.estimate()
    limit = profile.limits.max_device_temperature_c - MARGIN_C
    gradient = profile.limits.max_thermal_gradient_c_per_mm
    remaining = Remaining(tuple(t.id for t in graph.tasks), (), fc, 0.0, plan, limit, gradient)
    lanes = tuple(lane.id for lane in profile.lanes)
    replan(remaining, lanes, estimate)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        replan(remaining, lanes, estimate)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1e3
    return {
        "tasks": count,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }
