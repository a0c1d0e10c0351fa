"""The comparative study's runs: one workload, one disturbance, one strategy, on the plant.

Shared by `benchmarks/comparative.py` (the study: statistics, table, figures) and
`tests/test_comparative.py`. A run plays a job on the simulated chip (HotSpot's 16 x 16 grid
plant) through a real `DeviceRuntime` in manual device time, as `loop_runs` does, and records
the plant's true top-layer grid every control period; every metric is computed from that
record and from the job's own events (docs/study.md defines each):

* strategies: (a) ``unaware`` — the optimiser without heat (thermal tables off), executed as
  planned, the interlock the only protection; (b) ``reactive`` — the same plan under the loop's
  reactive throttling (no task starts while a sensor reads above max - margin); (c) ``open`` —
  photond's thermal-aware plan executed as planned; (d) ``closed`` — photond's plan under the
  closed loop (observer, forecast, re-plan). The interlock is on in every strategy.
* the clairvoyant reference: the same optimiser, same level and budget, planning on the
  compact model derived from the plant's *true* conditions (ambient, cooling, conductances:
  `true_profile`), then played open loop on the disturbed plant.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photon.v1 import job_pb2
from photon_bench.loop_runs import RecordingSim
from photon_bench.loop_runs import workload as zone_workload
from photon_drivers.clock import ManualClock
from photon_drivers.interface import SensorSample
from photon_drivers.plant.chip import chip_network
from photon_drivers.profile import DeviceProfile
from photond.jobs.book import JobBook, JobRecord
from photond.jobs.journal import Journal
from photond.loop.control_config import ControlConfig
from photond.loop.runtime import DeviceRuntime
from photond.model import equivalent_aging_hours
from photond.model.metrics import gradients_c_per_mm, phase_drift_rad, sensor_pairs
from photond.planning.device_plan import plan_graph
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.optimize import Level
from photond.planning.plan import Plan
from photond.rpc.validation import check_graph
from photond.wire import plan_to_proto

PERIOD_S = 0.01
MARGIN_C = 2.0
# When the timed disturbances start (device seconds): early, so that most of a job runs
# under them and the clairvoyant plan (made for the disturbed conditions throughout) is
# close to exact; see `true_profile`. A job whose plan is shorter than ONSET_S / ONSET_FRACTION
# meets them at that fraction of its planned makespan instead (`onset_s`): at a fixed 1 s the
# model workloads' short prefixes ended before any disturbance began.
ONSET_S = 1.0
ONSET_FRACTION = 0.25
# A task's own heat settles on its footprint within a few of the fast modes' time constants
# (the slowest local one is 26 ms on the default chip): the phase reference is taken then.
PHASE_SETTLE_S = 0.1
# Long enough that an interlock trip holds the job until the chip cools rather than failing
# it: a run then has a makespan to compare.
HOLD_TIMEOUT_S = 120.0
# Drift-sensitive tasks in the synthetic workload: every DRIFT_EVERY-th task tolerates this.
DRIFT_EVERY = 10
DRIFT_TOLERANCE_RAD = 0.5
SYNTHETIC_MW = 28.0
# Plans are budgeted in search rounds (`photond_plan`); this only stops a runaway search.
PLAN_TIME_CAP_S = 300.0
# Where a run's job journal goes: the daemon's own (SQLite, synchronous=FULL), whose
# durability no run measures; on a tmpfs its fsyncs cost nothing (on this machine's /tmp,
# 0.02-0.6 s per run under load, of runs that take 0.2 s).
SCRATCH_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

STRATEGIES = ("unaware", "reactive", "open", "closed")
STRATEGY_LABELS = {
    "unaware": "(a) unaware + interlock",
    "reactive": "(b) reactive throttling",
    "open": "(c) photond open loop",
    "closed": "(d) photond closed loop",
}


@dataclass(frozen=True)
class Scenario:
    """A disturbance: the sim options that cause it, and the plant's true conditions.

    Attributes:
        options: the simulated chip's options (`photon_drivers.sim.options`).
        ambient_offset_c: the room's true offset once the disturbance has come.
        cooling_factor: every resistance to ambient x this, once it has come.
        conductance_factor: every conductance of the plant x this (plant mismatch).
    """

    name: str
    options: Mapping[str, str]
    ambient_offset_c: float = 0.0
    cooling_factor: float = 1.0
    conductance_factor: float = 1.0

    def at(self, onset_s: float) -> Scenario:
        """The same disturbance beginning at `onset_s` device seconds (a timed one only: a
        plant mismatch holds from the start)."""
        timed = {
            key: (f"{value.split('@')[0]}@{onset_s!r}" if key == "dead_sensor" else repr(onset_s))
            if key in TIMED_OPTIONS
            else value
            for key, value in self.options.items()
        }
        return dataclasses.replace(self, options=timed)


# The sim options that say when a disturbance begins (`dead_sensor` as "sensor@seconds").
TIMED_OPTIONS = frozenset({"ambient_step_at_s", "cooling_at_s", "dead_sensor"})


def onset_s(planned_makespan_s: float) -> float:
    """When a job planned to take `planned_makespan_s` meets its scenario's disturbance:
    `ONSET_S`, or `ONSET_FRACTION` of a shorter job, never before its first control period."""
    return max(PERIOD_S, min(ONSET_S, ONSET_FRACTION * planned_makespan_s))


SCENARIOS: dict[str, Scenario] = {
    s.name: s.at(ONSET_S)
    for s in (
        Scenario("none", {}),
        Scenario(
            "ambient +10 C", {"ambient_step_c": "10", "ambient_step_at_s": ""}, ambient_offset_c=10
        ),
        Scenario("cooling x1.5", {"cooling_factor": "1.5", "cooling_at_s": ""}, cooling_factor=1.5),
        Scenario("plant -20 %", {"plant_mismatch": "-0.2"}, conductance_factor=0.8),
        Scenario("plant +20 %", {"plant_mismatch": "0.2"}, conductance_factor=1.2),
        Scenario("failed sensor", {"dead_sensor": "s12"}),
    )
}


def synthetic_workload(profile: DeviceProfile, tasks: int, seed: int) -> CheckedGraph:
    """`loop_runs.workload` (zone tasks of 0.2-0.6 s, every 5th after another) at
    `SYNTHETIC_MW` per heater instead of 24, so that a job of a few hundred tasks already
    binds (all eight zones at once would settle near 115 °C), with every `DRIFT_EVERY`-th task
    drift-sensitive (`DRIFT_TOLERANCE_RAD`)."""
    graph = zone_workload(profile, tasks, seed)
    return CheckedGraph(
        tuple(
            dataclasses.replace(
                t,
                heater_power_mw=dict.fromkeys(t.heater_power_mw, SYNTHETIC_MW),
                drift_tolerance_rad=DRIFT_TOLERANCE_RAD
                if i % DRIFT_EVERY == DRIFT_EVERY - 1
                else 0.0,
            )
            for i, t in enumerate(graph.tasks)
        )
    )


# The model workloads' first GEMMs (`Workload.first`): a prefix keeps runs short.
MODEL_LAYERS = 8


def model_workload(model: str) -> Callable[[DeviceProfile, int, int], CheckedGraph]:
    """A model of `photon_sdk.workloads` (its first `layers` GEMMs, mapped at the SDK's
    defaults with seeded random weights: docs/workloads.md), every task drift-sensitive
    (`DRIFT_TOLERANCE_RAD`: a tile's phases are its matrix), checked as SubmitJob checks it."""

    def build(profile: DeviceProfile, layers: int, seed: int) -> CheckedGraph:
        from photon_sdk import workloads

        graph = workloads.to_task_graph(
            workloads.MODELS[model]().first(layers),
            profile,
            seed=seed,
            drift_tolerance_rad=DRIFT_TOLERANCE_RAD,
        )
        return check_graph(graph.to_proto(), profile, len(graph) + 1)

    return build


# name -> (profile, size, seed) -> graph; size is tasks (synthetic) or GEMMs (models).
WORKLOADS: dict[str, Callable[[DeviceProfile, int, int], CheckedGraph]] = {
    "synthetic": synthetic_workload,
    **{m: model_workload(m) for m in ("resnet50", "bert_base", "gpt2_small")},
}


def true_profile(profile: DeviceProfile, scenario: Scenario, workdir: Path) -> DeviceProfile:
    """The profile whose compact model is the disturbed plant's: the clairvoyant's model.

    The plant is the profile's HotSpot case; the simulated chip's mismatch scales every
    conductance by (1 + m), and degraded cooling divides every conductance to ambient by the
    factor. The same physics in HotSpot's terms: every layer's resistivity / (1 + m), the
    spreader's and sink's conductivity x (1 + m), and the convection resistance (the only path
    to ambient) x factor / (1 + m) — written as a case of its own under `workdir`. An ambient
    step is the profile's ambient. (Checked: the networks agree to 2e-4 relative.)
    """
    out = dataclasses.replace(profile, ambient_c=profile.ambient_c + scenario.ambient_offset_c)
    if scenario.cooling_factor == 1.0 and scenario.conductance_factor == 1.0:
        return out
    source = profile.thermal
    if source is None or source.layers is None or source.floorplan is None:
        raise ValueError("the clairvoyant model needs a profile with a HotSpot case")
    cond, cooling = scenario.conductance_factor, scenario.cooling_factor
    folder = workdir / f"case-{cond:g}-{cooling:g}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in source.config.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("-k_spreader", "-k_sink"):
            line = f"{parts[0]}\t{float(parts[1]) * cond!r}"
        elif len(parts) == 2 and parts[0] == "-r_convec":
            line = f"{parts[0]}\t{float(parts[1]) * cooling / cond!r}"
        lines.append(line)
    (folder / source.config.name).write_text("\n".join(lines) + "\n")
    # A layer is 7 values (index, lateral, power, rho*c, resistivity, thickness, floorplan).
    layers, value = [], 0
    for line in source.layers.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            if value % 7 == 4:
                line = repr(float(line) / cond)
            value += 1
        layers.append(line)
    (folder / source.layers.name).write_text("\n".join(layers) + "\n")
    shutil.copy(source.floorplan, folder / source.floorplan.name)
    thermal = dataclasses.replace(
        source,
        config=folder / source.config.name,
        layers=folder / source.layers.name,
        floorplan=folder / source.floorplan.name,
    )
    return dataclasses.replace(out, thermal=thermal)


def photond_plan(graph: CheckedGraph, profile: DeviceProfile, seed: int, rounds: int) -> Plan:
    """photond's plan (SubmitJob's optimiser at BALANCED) to the closed loop's planning margin.

    The budget is `rounds` search rounds, not BALANCED's second of wall time: on a machine
    shared with other work a time budget buys a different search every run, and the
    clairvoyant and photond's plan must get the same one.
    """
    margin = ControlConfig().planning_margin_c
    return plan_graph(
        graph,
        profile,
        Level.BALANCED,
        margin_c=margin,
        seed=seed,
        max_rounds=rounds,
        time_limit_s=PLAN_TIME_CAP_S,
    )


def unaware_plan(graph: CheckedGraph, profile: DeviceProfile, seed: int, rounds: int) -> Plan:
    """The same optimiser and budget, blind to heat (no thermal tables)."""
    return plan_graph(
        graph,
        profile,
        Level.BALANCED,
        thermal=False,
        seed=seed,
        max_rounds=rounds,
        time_limit_s=PLAN_TIME_CAP_S,
    )


class TraceSim(RecordingSim):
    """The simulated chip, keeping its true top-layer grid and the time of every sample."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grid_c: list[np.ndarray[Any, Any]] = []
        self.time_s: list[float] = []

    def read_sensors(self) -> SensorSample:
        sample = super().read_sensors()
        self.grid_c.append(self.true_temperatures_c().ravel())
        self.time_s.append(sample.device_time_s)
        return sample


@dataclass
class RunMetrics:
    """One run's figures, all from the plant's record and the job's events (docs/study.md)."""

    workload: str
    seed: int
    scenario: str
    strategy: str
    state: str
    makespan_s: float
    time_above_limit_s: float
    peak_c: float
    peak_gradient_c_per_mm: float
    aging_hours: float
    worst_phase_error_rad: float
    drift_tasks_over_tolerance: int
    replans: int
    interlock_trips: int
    planned_makespan_s: float
    wall_s: float


def readout_weights(profile: DeviceProfile) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(sensors, cells) and (heaters, cells): the plant's noiseless sensor readings and heater
    footprint temperatures as weights on its top-layer grid (row-major, as
    `true_temperatures_c` returns it)."""
    chip = chip_network(profile)
    top = chip.top_nodes.ravel()
    return chip.sensor_weights[:, top], chip.heater_injection[top, :].T


def run(
    profile: DeviceProfile,
    graph: CheckedGraph,
    plan: Plan,
    scenario: Scenario,
    mode: str,
    *,
    label: str,
    workload: str = "",
    seed: int = 0,
) -> RunMetrics:
    """Play `plan` of `graph` on a fresh simulated chip under `scenario` in loop `mode`."""
    started = time.perf_counter()
    clock = ManualClock()
    sim = TraceSim.open({**scenario.options, "seed": str(seed)}, clock)
    with tempfile.TemporaryDirectory(prefix="comparative-", dir=SCRATCH_DIR) as tmp:
        book = JobBook(Journal(Path(tmp) / "jobs.sqlite3"))
        control = ControlConfig(mode=mode, margin_c=MARGIN_C, hold_timeout_s=HOLD_TIMEOUT_S)
        runtime = DeviceRuntime("sim0", sim, book, PERIOD_S, control=control)
        # Work off the loop thread runs at a real clock's pace (`RecordingSim`): in manual time
        # the loop would otherwise charge a re-time 10-30 times the periods it takes on a chip.
        sim.pace, sim.pace_s = runtime.control.computing, PERIOD_S
        job = job_pb2.Job(id=f"job-{label}", device_id="sim0", schedule=plan_to_proto(plan))
        record = JobRecord(job=job, graph=graph, plan=plan)
        book.submit(record, 0.0)
        runtime.start()
        runtime.enqueue(record)
        while not record.terminal:
            time.sleep(0.02)
        runtime.stop()
        # Read while the journal is there: a finished job's events live in it (EventLog.spill).
        events = list(record.events)
    # The job's span only: the loop samples from before the job is queued until it is
    # stopped, moments that differ from run to run in device time; the figures are the job's.
    begin_s = min(
        (e.device_time_s for e in events if e.WhichOneof("kind") == "job_started"), default=0.0
    )
    end_s = max((e.device_time_s for e in events), default=0.0)
    times = np.array(sim.time_s)
    keep = (times >= begin_s - PERIOD_S / 2) & (times <= end_s + PERIOD_S / 2)
    grid = np.array(sim.grid_c)[keep]
    times = times[keep]
    hottest = grid.max(axis=1)
    sensor_w, heater_w = readout_weights(profile)
    limit = profile.limits.max_device_temperature_c
    gradient = gradients_c_per_mm(grid @ sensor_w.T, sensor_pairs(profile))
    phase, over = phase_errors(graph, events, times, grid @ heater_w.T, profile)
    state = job_pb2.JobState.Name(record.job.state).removeprefix("JOB_STATE_").lower()
    return RunMetrics(
        workload=workload,
        seed=seed,
        scenario=scenario.name,
        strategy=label,
        state=state,
        makespan_s=record.job.result.makespan_s if state == "completed" else math.nan,
        time_above_limit_s=float((hottest > limit).sum() * PERIOD_S),
        peak_c=float(hottest.max()),
        peak_gradient_c_per_mm=float(gradient.max()),
        aging_hours=float(equivalent_aging_hours(hottest, PERIOD_S)),
        worst_phase_error_rad=phase,
        drift_tasks_over_tolerance=over,
        replans=runtime.control.stats.replans,
        interlock_trips=sum(e.WhichOneof("kind") == "held" for e in events),
        planned_makespan_s=plan.makespan_s,
        wall_s=time.perf_counter() - started,
    )


def phase_errors(
    graph: CheckedGraph,
    events: list[job_pb2.JobEvent],
    times_s: np.ndarray[Any, Any],
    footprint_c: np.ndarray[Any, Any],
    profile: DeviceProfile,
) -> tuple[float, int]:
    """(worst phase error in rad, tasks over their tolerance) of the drift-sensitive tasks.

    A task's phase error is the largest thermo-optic shift (`model.metrics.phase_drift_rad`)
    of any of its heaters' plant footprint temperature from its value `PHASE_SETTLE_S` after
    the task started (its own heat settled: the phase is set then), over the rest of its run:
    what other heat did to a phase the task holds. Tasks shorter than that are not measured;
    NaN when no task was.
    """
    tasks = graph.by_id()
    index = {h.id: k for k, h in enumerate(profile.heaters)}
    length = {h.id: h.waveguide_length_mm for h in profile.heaters}
    begun: dict[str, float] = {}
    worst, over = math.nan, 0
    for event in events:
        kind = event.WhichOneof("kind")
        if kind == "task_started":
            begun[event.task_started.task_id] = event.device_time_s
        elif kind == "task_finished":
            task = tasks[event.task_finished.task_id]
            start_s = begun.pop(task.id, None)
            if not task.drift_tolerance_rad or start_s is None:
                continue
            first = int(np.searchsorted(times_s, start_s + PHASE_SETTLE_S))
            last = int(np.searchsorted(times_s, event.device_time_s))
            if last <= first:
                continue
            error = 0.0
            for h in task.heater_power_mw:
                trace = footprint_c[first:last, index[h]]
                delta = float(np.abs(trace - trace[0]).max())
                error = max(error, float(phase_drift_rad(delta, length[h])))
            worst = error if math.isnan(worst) else max(worst, error)
            over += error > task.drift_tolerance_rad
    return worst, over


# --- The exact reference: small thermally binding instances for CP-SAT -----------------------

# The exact instances' tick: the same compact model discretised at 0.5 s (exactly: matrix
# exponential), so that tasks of seconds are a few ticks and a time-indexed model stays small.
EXACT_PERIOD_S = 0.5


def exact_graph(profile: DeviceProfile, tasks: int, seed: int) -> CheckedGraph:
    """`tasks` zone tasks of 10-30 s at 24-30 mW per heater, the zones in turn (eight tasks
    could all run at once), every 4th after an earlier one:
    few enough for CP-SAT, long (against the package's 8.5 s time constant) and hot enough
    that its heat binds."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(tasks):
        zone = profile.zones[(i + seed) % len(profile.zones)]
        deps = (f"t{int(rng.integers(i))}",) if i >= 4 and i % 4 == 0 else ()
        out.append(
            CheckedTask(
                id=f"t{i}",
                duration_s=float(rng.choice([10.0, 15.0, 20.0, 25.0, 30.0])),
                heater_power_mw=dict.fromkeys(zone.heater_ids, float(rng.uniform(24.0, 30.0))),
                allowed_lanes=(),
                depends_on=deps,
                release_time_s=0.0,
                deadline_s=0.0,
                priority=0,
            )
        )
    return CheckedGraph(tuple(out))


def task_responses(tables: Any, duration: np.ndarray[Any, Any], lags: int) -> np.ndarray[Any, Any]:
    """(tasks, lags, points): each task's rise at every limit point, started alone at tick 0
    from rest, through the planner's own recurrence (`thermal_tables._trace_figures`: modes
    z <- a z + B p while it runs, read C z + D p at each tick's end)."""
    n = duration.shape[0]
    out = np.zeros((n, lags, tables.readout.shape[0]))
    for i in range(n):
        z = np.zeros(tables.decay.shape[0])
        for k in range(lags):
            on = k < duration[i]
            z = tables.decay * z + (tables.task_input[i] if on else 0.0)
            out[i, k] = tables.readout @ z + (tables.task_feed[i] if on else 0.0)
    return out


def exact_arrays(inst: Any, horizon: int) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays `comparative_cpsat.py` reads: the instance, its horizon and responses."""
    tables = inst.thermal
    checked = horizon + int(tables.tail_ticks)
    demand_task, demand_resource, demand_amount = [], [], []
    edges = [(int(p), i) for i in range(inst.n) for p in inst.predecessors(i)]
    for i in range(inst.n):
        for r, q in inst.demands(i):
            demand_task.append(i)
            demand_resource.append(int(r))
            demand_amount.append(int(q))
    return {
        "duration": inst.duration.astype(np.int64),
        "release": inst.release.astype(np.int64),
        "horizon": np.array(horizon),
        "checked_ticks": np.array(checked),
        "edge_from": np.array([a for a, _ in edges], dtype=np.int64),
        "edge_to": np.array([b for _, b in edges], dtype=np.int64),
        "capacity": inst.capacity.astype(np.int64),
        "demand_task": np.array(demand_task, dtype=np.int64),
        "demand_resource": np.array(demand_resource, dtype=np.int64),
        "demand_amount": np.array(demand_amount, dtype=np.int64),
        "response": task_responses(tables, inst.duration, checked),
        "pair_first": tables.pair_first,
        "pair_second": tables.pair_second,
        "pair_inv_distance_per_mm": tables.pair_inv_distance_per_mm,
        "max_rise_k": np.array(tables.max_rise_k),
        "max_gradient_c_per_mm": np.array(tables.max_gradient_c_per_mm),
    }
