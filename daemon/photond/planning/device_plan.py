"""Plan a daemon task graph on a device: graph → instance → optimiser → `Plan`.

One control period of the device's compact model is one tick: start times fall on the control
loop's grid, and a task occupies its lanes and heaters for its duration rounded up to whole
periods, so the runtime, which dispatches on that grid, never finds a lane or heater still busy.
Lanes become one pooled resource when every task may run on any lane, and explicit per-lane
choices otherwise; every heater that two tasks drive becomes a capacity-one resource (a phase
shifter holds one setting at a time). The planning model is the closed loop's own
(`model.loop_model` at the control period, every mode, the room at the profile's ambient), read
at the limit points (every heater's footprint and every sensor); it is built once per device
profile and period. The compact model it is built from stays beside it for the independent
validator, which plays plans through its own code.

A task with a drift tolerance is held to it by the decoder (the rule is in docs/optimizer.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from photon_drivers.profile import DeviceProfile, load_profile
from photond.model import (
    DEFAULT_DT_S,
    CompactModel,
    ModelState,
    compact_model,
    plant_network,
)
from photond.model.loop_model import LoopModel, loop_model
from photond.planning.bounds import lower_bound_s, thermal_bound_s
from photond.planning.drift import drift_limits_k
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.instance import Instance, instance_from_arrays
from photond.planning.optimize import (
    Level,
    ThermallyInfeasible,
    level_budget_s,
    optimize,
    pooled_lanes,
)
from photond.planning.plan import DEFAULT_MARGIN_C, Plan, PlannedTask
from photond.planning.thermal_tables import thermal_tables, trace_figures

log = logging.getLogger("photond.planning")


@dataclass(frozen=True)
class DeviceThermal:
    """What planning needs of a device, built once: its models and package figures.

    Attributes:
        model: the planning model, the loop's (see the module docstring).
        compact: the full compact model at the same period: the independent validator's.
    """

    profile: DeviceProfile
    model: LoopModel
    compact: CompactModel
    heat_capacity_j_per_k: float


@functools.lru_cache(maxsize=8)
def device_thermal(profile: DeviceProfile, period_s: float = DEFAULT_DT_S) -> DeviceThermal:
    """The device's models at the control period `period_s`, which is the planner's tick
    (cached: building them solves an eigenproblem)."""
    return DeviceThermal(
        profile=profile,
        model=loop_model(profile, period_s),
        compact=compact_model(profile, period_s),
        heat_capacity_j_per_k=float(plant_network(profile).capacitance_j_per_k.sum()),
    )


@dataclass(frozen=True)
class GraphInstance:
    """A graph's instance with what the planner reports in seconds and milliwatts."""

    instance: Instance
    power_mw: np.ndarray[Any, Any]
    duration_s: np.ndarray[Any, Any]
    release_s: np.ndarray[Any, Any]
    lane_ids: tuple[str, ...]
    pooled: bool


def graph_instance(
    graph: CheckedGraph,
    device: DeviceThermal,
    *,
    thermal: bool = True,
    state: ModelState | None = None,
    margin_c: float = DEFAULT_MARGIN_C,
) -> GraphInstance:
    """The optimiser's instance of a checked graph on `device` (arrays throughout)."""
    profile, model = device.profile, device.model
    lane_ids = tuple(lane.id for lane in profile.lanes)
    tick_s = model.dt_s
    tasks = graph.tasks
    n = len(tasks)
    index = {t.id: i for i, t in enumerate(tasks)}
    heater_index = {h: k for k, h in enumerate(model.heater_ids)}
    duration_s = np.fromiter((t.duration_s for t in tasks), dtype=np.float64, count=n)
    release_s = np.fromiter((t.release_time_s for t in tasks), dtype=np.float64, count=n)
    pooled = all(not t.allowed_lanes or len(set(t.allowed_lanes)) == len(lane_ids) for t in tasks)
    power = np.zeros((n, len(model.heater_ids)))
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for i, t in enumerate(tasks):
        row = t.heater_power_mw
        rows.extend([i] * len(row))
        cols.extend(map(heater_index.__getitem__, row))
        values.extend(row.values())
    power[rows, cols] = values
    # Heaters that the same tasks drive (a zone's) are one capacity-one resource; a heater
    # only one task drives needs none.
    uses = power > 0
    shared = np.flatnonzero(uses.sum(axis=0) > 1)
    groups = 0
    group_of = np.zeros(0, dtype=np.int64)
    if shared.size:
        users = np.packbits(uses[:, shared], axis=0).T
        _, group_of = np.unique(users, axis=0, return_inverse=True)
        group_of = group_of.reshape(-1)
        groups = int(group_of.max()) + 1
    onehot = np.zeros((shared.size, groups), dtype=np.float32)
    onehot[np.arange(shared.size), group_of] = 1.0
    # A float product (BLAS) counts each task's heaters per group; integers would not be BLAS.
    task_of, group = np.nonzero(uses[:, shared].astype(np.float32) @ onehot)
    first = 1 if pooled else 0
    demand_task = np.concatenate([np.arange(n if pooled else 0), task_of])
    demand_resource = np.concatenate([np.zeros(n if pooled else 0, dtype=np.int64), group + first])
    capacity = np.asarray(([len(lane_ids)] if pooled else []) + [1] * groups, dtype=np.int64)
    lane_mask = None
    if not pooled:
        lane_mask = np.zeros((n, len(lane_ids)), dtype=np.bool_)
        lane_pos = {lane: k for k, lane in enumerate(lane_ids)}
        for i, t in enumerate(tasks):
            for lane in t.allowed_lanes or lane_ids:
                lane_mask[i, lane_pos[lane]] = True
    duration = _ticks(duration_s, tick_s)
    tables = (
        thermal_tables(
            model,
            profile,
            power,
            duration,
            state=state,
            margin_c=margin_c,
            drift_limit_k=drift_limits_k(graph, profile, model.heater_ids),
        )
        if thermal and power.any()
        else None
    )
    edges = [(index[d], i) for i, t in enumerate(tasks) for d in t.depends_on]
    inst = instance_from_arrays(
        [t.id for t in tasks],
        duration,
        np.asarray([a for a, _ in edges], dtype=np.int64),
        np.asarray([b for _, b in edges], dtype=np.int64),
        capacity,
        demand_task.astype(np.int64),
        demand_resource.astype(np.int64),
        np.ones(demand_task.shape[0], dtype=np.int64),
        release=_ticks(release_s, tick_s),
        lane_mask=lane_mask,
        priority=np.fromiter((t.priority for t in tasks), dtype=np.int64, count=n),
        tick_s=tick_s,
        thermal=tables,
    )
    return GraphInstance(inst, power, duration_s, release_s, lane_ids, pooled)


def plan_graph(
    graph: CheckedGraph,
    profile: DeviceProfile,
    level: Level = Level.BALANCED,
    *,
    time_limit_s: float | None = None,
    max_rounds: int | None = None,
    moves_per_round: int = 0,
    seed: int = 0,
    thermal: bool = True,
    state: ModelState | None = None,
    margin_c: float = DEFAULT_MARGIN_C,
    period_s: float = DEFAULT_DT_S,
) -> Plan:
    """Plan `graph` on the device `profile` describes; see the module docstring.

    `period_s` is the device loop's control period: every start falls on its grid.

    `time_limit_s` (or the level's budget) covers the whole call, conversion included.
    `max_rounds` and `moves_per_round` (0: the search's default) bound the search instead.

    Raises:
        ThermallyInfeasible: a task breaks a limit even alone from ambient.
    """
    started = time.perf_counter()
    device = device_thermal(profile, period_s)
    built = graph_instance(graph, device, thermal=thermal, state=state, margin_c=margin_c)
    inst = built.instance
    budget_s = level_budget_s(level) if time_limit_s is None else time_limit_s
    # The plan's report after the search (lanes, prediction, tasks) costs about what the
    # conversion did: keep that much of the budget for it.
    converted_s = time.perf_counter() - started
    solution = optimize(
        inst,
        level,
        time_limit_s=max(0.0, budget_s - 2 * converted_s),
        max_rounds=max_rounds,
        moves_per_round=moves_per_round,
        seed=seed,
    )
    if built.pooled:
        lanes = pooled_lanes(solution.start, inst.duration, len(built.lane_ids))
    else:
        lanes = solution.lane
    tick_s = inst.tick_s
    start_s = solution.start * tick_s
    end_s = start_s + built.duration_s
    planned = [
        PlannedTask(t.id, built.lane_ids[lane], start, end)
        for t, lane, start, end in zip(
            graph.tasks, lanes.tolist(), start_s.tolist(), end_s.tolist(), strict=True
        )
    ]
    planned.sort(key=lambda p: (p.start_s, p.task_id))
    makespan_s = float(end_s.max(initial=0.0))
    peak_c, gradient, aging = prediction(built, solution.start, device)
    bound_s = max(
        lower_bound_s(inst, built.duration_s, built.release_s),
        plan_thermal_bound_s(built, device) if thermal else 0.0,
    )
    return Plan(
        tasks=tuple(planned),
        makespan_s=makespan_s,
        lower_bound_s=bound_s,
        planner=solution.stats.planner,
        planning_time_s=time.perf_counter() - started,
        predicted_peak_temperature_c=peak_c,
        predicted_peak_gradient_c_per_mm=gradient,
        aging_hours=aging,
        statistics=solution.stats,
    )


def prediction(
    built: GraphInstance, start: np.ndarray[Any, Any], device: DeviceThermal
) -> tuple[float, float, float]:
    """(peak °C, peak gradient °C/mm, equivalent aging hours) the model predicts for a plan."""
    model, profile = device.model, device.profile
    inst = built.instance
    tables = inst.thermal or thermal_tables(model, profile, built.power_mw, inst.duration)
    figures = trace_figures(tables, start, inst.duration, model.dt_s)
    return (
        model.ambient_c + figures.peak_rise_k,
        figures.peak_gradient_c_per_mm,
        figures.aging_hours,
    )


def plan_thermal_bound_s(built: GraphInstance, device: DeviceThermal) -> float:
    """The energy-balance bound (`bounds.thermal_bound_s`) of a graph on a device."""
    profile = device.profile
    energy_j = float(built.power_mw.sum(axis=1) @ built.duration_s) * 1e-3
    return thermal_bound_s(
        energy_j,
        max_rise_k=profile.limits.max_device_temperature_c - profile.ambient_c,
        die_to_ambient_k_per_w=profile.package.die_to_ambient_k_per_w,
        heat_capacity_j_per_k=device.heat_capacity_j_per_k,
    )


def _ticks(seconds: np.ndarray[Any, Any], tick_s: float) -> np.ndarray[Any, Any]:
    return np.maximum(0, np.ceil(seconds / tick_s - 1e-9)).astype(np.int64)


def warm_up(profile: DeviceProfile, period_s: float = DEFAULT_DT_S, *, for_: str = "") -> None:
    """Build the device's model and compile every kernel (thermal ones included) before use.

    A cold numba compile takes tens of seconds, cached on disk afterwards: a process that plans
    calls this (or `warm_kernels`, then `warm_model` per device, as the daemon's planning
    processes do) before its first plan. Each path must really run, so the graphs are made for
    it: one where heat binds (every zone driven hard, twice: the thermal decoder and the search
    over it, with a drift-sensitive task), one where it never does (the serial scheme and the
    search with justification). `for_` names what it warms for in the log (the default: the
    profile's model).
    """
    started = time.perf_counter()
    warm_model(profile, period_s, for_=for_)
    heaters = {h.id: h for h in profile.heaters}
    groups = [z.heater_ids for z in profile.zones] or [(h,) for h in heaters]
    hot = CheckedGraph(
        tuple(
            CheckedTask(
                id=f"hot{k}-{i}",
                duration_s=2.0,
                heater_power_mw={h: 0.9 * heaters[h].max_power_mw for h in group},
                allowed_lanes=(),
                depends_on=(),
                release_time_s=0.0,
                deadline_s=0.0,
                priority=0,
                drift_tolerance_rad=0.5 if k == 0 and i == 0 else 0.0,
            )
            for k, group in enumerate(groups)
            for i in range(2)
        )
    )
    cool = CheckedGraph(
        tuple(
            CheckedTask(f"t{i}", 0.1 * (1 + i % 3), {h: 1.0}, (), (), 0.0, 0.0, 0)
            for i, h in enumerate(list(heaters)[:2] * 6)
        )
    )
    # A cold start spends a minute or more here: each step says so in the log as it ends.
    for name, checked in (("heat-bound", hot), ("heat-free", cool)):
        for level in Level:
            with contextlib.suppress(ThermallyInfeasible):
                # One move a round runs every kernel as a full round would, in a fraction
                # of the time: the daemon reports READY (and starts) that much sooner.
                plan_graph(
                    checked, profile, level, max_rounds=1, moves_per_round=1, period_s=period_s
                )
            log.info(
                "warm-up: kernels ready",
                extra={
                    "graph": name,
                    "optimization_level": level.name,
                    "elapsed_s": _since(started),
                    "for": for_ or profile.model,
                },
            )


def warm_model(profile: DeviceProfile, period_s: float = DEFAULT_DT_S, *, for_: str = "") -> None:
    """Build the device's model (cached per process, `device_thermal`), and log it.

    After `warm_kernels` this is all a device still needs before its first plan: the kernels'
    machine code depends on their argument types, which are the sketch's, so running each path
    again on the device would load and compile nothing more (test_device_plan checks it) and
    only delay READY by the runs themselves (~0.14 s on the shipped chip).
    """
    started = time.perf_counter()
    device_thermal(profile, period_s)
    log.info(
        "warm-up: device model built",
        extra={"elapsed_s": _since(started), "for": for_ or profile.model},
    )


def warm_kernels(period_s: float = DEFAULT_DT_S) -> None:
    """Compile (or load from numba's cache) every kernel before any device is known: `warm_up`
    on the shipped chip sketched as a layer stack (its 8 x 8 grid, ~260 nodes, no HotSpot
    files), whose model is built in milliseconds.

    A kernel's machine code depends on its argument types, not on the device, so `warm_up` for
    a real device afterwards only builds that device's model and runs each path once. The
    daemon's planning processes call this while they wait for the drivers to open: loading
    the kernels (numba's set-up, then every kernel's code, ~0.4 s warm) is then off the path
    to READY, which waits for the drivers, then for the device's warm-up.
    """
    sketch = dataclasses.replace(load_profile(), thermal=None)
    warm_up(sketch, period_s, for_="kernels, before the devices are known")


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 2)
