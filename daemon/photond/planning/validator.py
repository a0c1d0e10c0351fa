"""The independent validator: re-check a schedule from its definition, slowly and simply.

Nothing here shares code with the decoder. A daemon plan is checked against the checked graph
(every task exactly once with its own duration, release times, dependencies, allowed lanes, one
task per lane and per heater at a time), against the power-density cap (each task's power on
each heater over that heater's cell) and against the thermal limits by playing the plan's heater
powers through the full `CompactModel.simulate` (a task heats every control period it overlaps;
all the model's modes, where the planner keeps a few) and reading every limit point (each
heater's footprint and each sensor) and every neighbour gradient. A benchmark instance's
schedule is checked against precedence, release and every resource's capacity at every tick.

Each function returns the list of problems found (empty: valid), so a test can show them all.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from photon_drivers.profile import DeviceProfile
from photond.model import CompactModel
from photond.model.metrics import limit_point_pairs, peak_gradient_c_per_mm, phase_drift_rad
from photond.planning.graph import CheckedGraph
from photond.planning.instance import Instance

_EPS_S = 1e-9


class Placed(Protocol):
    @property
    def task_id(self) -> str: ...
    @property
    def lane_id(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


def validate_plan(
    graph: CheckedGraph,
    placed: Sequence[Placed],
    profile: DeviceProfile,
    model: CompactModel | None = None,
    *,
    thermal: bool = True,
) -> list[str]:
    """Problems with a daemon plan; `model` enables the thermal check.

    The power-density cap is checked with or without `thermal`: it needs no model.
    """
    problems: list[str] = []
    tasks = graph.by_id()
    lanes = [lane.id for lane in profile.lanes]
    by_id: dict[str, Placed] = {}
    for p in placed:
        if p.task_id in by_id:
            problems.append(f"{p.task_id} planned twice")
        by_id[p.task_id] = p
    missing = set(tasks) - set(by_id)
    extra = set(by_id) - set(tasks)
    problems += [f"{t} not planned" for t in sorted(missing)]
    problems += [f"{t} is not in the graph" for t in sorted(extra)]
    if missing or extra:
        return problems
    for p in placed:
        t = tasks[p.task_id]
        if abs((p.end_s - p.start_s) - t.duration_s) > 1e-6:
            problems.append(f"{t.id} runs {p.end_s - p.start_s} s, not {t.duration_s} s")
        if p.start_s < t.release_time_s - _EPS_S:
            problems.append(f"{t.id} starts at {p.start_s} before its release {t.release_time_s}")
        if p.lane_id not in (t.allowed_lanes or lanes):
            problems.append(f"{t.id} on lane {p.lane_id}, not one it may use")
        for d in t.depends_on:
            if by_id[d].end_s > p.start_s + _EPS_S:
                problems.append(f"{t.id} starts at {p.start_s} before {d} ends ({by_id[d].end_s})")
    holders: dict[str, list[Placed]] = {}
    for p in placed:
        if p.end_s - p.start_s <= _EPS_S:
            continue
        holders.setdefault("lane " + p.lane_id, []).append(p)
        for h in tasks[p.task_id].heater_power_mw:
            holders.setdefault("heater " + h, []).append(p)
    for what, items in holders.items():
        items.sort(key=lambda p: p.start_s)
        for a, b in itertools.pairwise(items):
            if b.start_s < a.end_s - _EPS_S:
                problems.append(f"{a.task_id} and {b.task_id} overlap on {what}")
    problems += _power_density_problems(graph, profile)
    if thermal and model is not None and placed:
        problems += _thermal_problems(graph, placed, profile, model)
    return problems


def _power_density_problems(graph: CheckedGraph, profile: DeviceProfile) -> list[str]:
    # Per task is enough because the overlap check above keeps one task per heater at a time.
    cap = profile.limits.max_power_density_mw_per_mm2
    cells = profile.heater_cell_area_mm2
    problems = []
    for t in graph.tasks:
        for h, mw in t.heater_power_mw.items():
            if mw > cap * cells[h] * (1 + 1e-9):
                problems.append(
                    f"{t.id} puts {mw} mW on {h}, {mw / cells[h]:.4g} mW/mm² over its "
                    f"{cells[h]:.4g} mm² cell, above {cap} mW/mm²"
                )
    return problems


def _thermal_problems(
    graph: CheckedGraph, placed: Sequence[Placed], profile: DeviceProfile, model: CompactModel
) -> list[str]:
    dt = model.dt_s
    tasks = graph.by_id()
    heater = {h: k for k, h in enumerate(model.heater_ids)}
    end_s = max(p.end_s for p in placed)
    periods = math.ceil(end_s / dt - 1e-9) + 200
    power = np.zeros((periods, len(model.heater_ids)))
    for p in placed:
        first = math.floor(p.start_s / dt + 1e-9)
        last = math.ceil(p.end_s / dt - 1e-9)
        for h, mw in tasks[p.task_id].heater_power_mw.items():
            power[first:last, heater[h]] += mw
    trace = model.simulate(power, at="limits")
    limits = profile.limits
    problems = _drift_problems(graph, placed, profile, model, power)
    peak = float(trace.max())
    if peak > limits.max_device_temperature_c + 1e-6:
        k, point = np.unravel_index(int(np.argmax(trace)), trace.shape)
        heaters = len(model.heater_ids)
        where = (
            f"heater {model.heater_ids[point]}'s footprint"
            if point < heaters
            else f"sensor {profile.sensors[point - heaters].id}"
        )
        problems.append(
            f"{where} reaches {peak:.3f} °C at {k * dt:.2f} s, above "
            f"{limits.max_device_temperature_c} °C"
        )
    gradient = peak_gradient_c_per_mm(trace, limit_point_pairs(profile))
    if gradient > limits.max_thermal_gradient_c_per_mm + 1e-6:
        problems.append(
            f"gradient reaches {gradient:.3f} °C/mm, above "
            f"{limits.max_thermal_gradient_c_per_mm} °C/mm"
        )
    return problems


def _drift_problems(
    graph: CheckedGraph,
    placed: Sequence[Placed],
    profile: DeviceProfile,
    model: CompactModel,
    power: np.ndarray[Any, Any],
) -> list[str]:
    """Each drift-sensitive task's phase drift from everything else's heat, over its run.

    The plan is played again without the task; its heaters' footprint temperatures in that
    trace, from the task's first period on, may differ by no more than its tolerance allows in
    phase at the shortest wavelength among its lanes from their value at the end of its first
    period with only the tasks that started before it (heat that starts with it is drift).
    """
    dt = model.dt_s
    heater = {h: k for k, h in enumerate(model.heater_ids)}
    length_mm = {h.id: h.waveguide_length_mm for h in profile.heaters}
    wavelength = {lane.id: lane.wavelength_nm for lane in profile.lanes}
    tasks = graph.by_id()
    problems = []
    for p in placed:
        t = tasks[p.task_id]
        first = math.floor(p.start_s / dt + 1e-9)
        last = math.ceil(p.end_s / dt - 1e-9)
        if t.drift_tolerance_rad <= 0 or not t.heater_power_mw or last <= first:
            continue
        others = power.copy()
        for h, mw in t.heater_power_mw.items():
            others[first:last, heater[h]] -= mw
        footprint_c = model.simulate(others[:last], at="heaters")[first:last]
        before = np.zeros((first + 1, power.shape[1]))
        for q in placed:
            q_first = math.floor(q.start_s / dt + 1e-9)
            if q_first < first:
                q_last = min(math.ceil(q.end_s / dt - 1e-9), first + 1)
                for h, mw in tasks[q.task_id].heater_power_mw.items():
                    before[q_first:q_last, heater[h]] += mw
        reference_c = model.simulate(before, at="heaters")[first]
        shortest_nm = min(wavelength[lane] for lane in (t.allowed_lanes or wavelength))
        for h in t.heater_power_mw:
            change_k = footprint_c[:, heater[h]] - reference_c[heater[h]]
            drift = float(
                np.abs(phase_drift_rad(change_k, length_mm[h], wavelength_nm=shortest_nm)).max()
            )
            if drift > t.drift_tolerance_rad * (1 + 1e-6) + 1e-12:
                problems.append(
                    f"{t.id} drifts {drift:.4g} rad on {h} from other heat, above its "
                    f"tolerance {t.drift_tolerance_rad} rad"
                )
    return problems


def validate_schedule(inst: Instance, start: Any, lane: Any = None) -> list[str]:
    """Problems with a schedule of a benchmark instance (ticks; lanes only if explicit)."""
    problems: list[str] = []
    start = [int(s) for s in start]
    if len(start) != inst.n:
        return [f"{len(start)} starts for {inst.n} tasks"]
    dur = [int(d) for d in inst.duration]
    for i in range(inst.n):
        if start[i] < int(inst.release[i]):
            problems.append(f"{inst.names[i]} starts before its release")
        for p in inst.predecessors(i):
            if start[int(p)] + dur[int(p)] > start[i]:
                problems.append(f"{inst.names[i]} starts before {inst.names[int(p)]} ends")
    horizon = max((s + d for s, d in zip(start, dur, strict=False)), default=0)
    for r, cap in enumerate(inst.capacity):
        load = [0] * horizon
        for i in range(inst.n):
            for res, amount in inst.demands(i):
                if res == r:
                    for t in range(start[i], start[i] + dur[i]):
                        load[t] += amount
        over = [t for t, v in enumerate(load) if v > cap]
        if over:
            problems.append(f"resource {r} over capacity {int(cap)} at tick {over[0]}")
    if inst.lanes:
        assert lane is not None
        for i in range(inst.n):
            if not inst.lane_mask[i, int(lane[i])]:
                problems.append(f"{inst.names[i]} on a lane it may not use")
        for i in range(inst.n):
            for j in range(i + 1, inst.n):
                if (
                    int(lane[i]) == int(lane[j])
                    and start[i] < start[j] + dur[j]
                    and start[j] < start[i] + dur[i]
                ):
                    problems.append(f"{inst.names[i]} and {inst.names[j]} share a lane")
    return problems
