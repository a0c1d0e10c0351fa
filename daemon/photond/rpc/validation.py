"""Check a submitted task graph against the device before anything is planned or stored.

Everything a client sends is untrusted: each check names the field path of the first bad value
(`graph.tasks[2].heater_powers[0].power_mw`) so the error can be fixed without guesswork. The
output is a `CheckedGraph` whose per-heater powers are resolved (zones split evenly among their
heaters), so the planner and the runtime never look at zones again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from photon_drivers.profile import DeviceProfile
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.rpc.status import RequestError, invalid_argument, quoted

if TYPE_CHECKING:
    # Annotations only: the optimiser (and its benchmarks) use this module without the
    # generated wire code, e.g. beside OR-Tools, whose protobuf is older than our gencode.
    from photon.v1 import job_pb2


# The longest time a task field may name (duration, release time, deadline): the planner's
# arrays are indexed by control period, so an absurd duration is an absurd allocation. An hour
# is 360,000 periods at the default 10 ms; longer experiments are several jobs.
MAX_TIME_S = 3600.0
# Longest id (task, heater, zone, lane, dependency) a graph may use, in characters.
MAX_ID_CHARS = 256


def check_graph(
    graph: job_pb2.TaskGraph, profile: DeviceProfile, max_tasks: int, field: str = "graph"
) -> CheckedGraph:
    """Return the graph in checked form, or raise RequestError(INVALID_ARGUMENT) naming the field.

    Raises:
        RequestError: the first problem found, in the order tasks are listed.
    """
    if not graph.tasks:
        raise invalid_argument(f"{field}.tasks", "a job needs at least one task")
    if len(graph.tasks) > max_tasks:
        raise invalid_argument(
            f"{field}.tasks",
            f"{len(graph.tasks)} tasks exceed this daemon's limit of {max_tasks} per job",
        )
    ids: dict[str, int] = {}
    for i, task in enumerate(graph.tasks):
        where = f"{field}.tasks[{i}].id"
        if not task.id:
            raise invalid_argument(where, "a task id must not be empty")
        _short_id(task.id, where)
        if task.id in ids:
            raise invalid_argument(
                where, f"duplicate task id {quoted(task.id)} (also tasks[{ids[task.id]}])"
            )
        ids[task.id] = i
    heater_max = {h.id: h.max_power_mw for h in profile.heaters}
    density_cap = _DensityCap(
        profile.heater_cell_area_mm2, profile.limits.max_power_density_mw_per_mm2
    )
    zones = {z.id: z.heater_ids for z in profile.zones}
    lanes = {lane.id for lane in profile.lanes}
    checked = tuple(
        _check_task(task, f"{field}.tasks[{i}]", ids, heater_max, density_cap, zones, lanes)
        for i, task in enumerate(graph.tasks)
    )
    _check_acyclic(checked, field)
    return CheckedGraph(checked)


def _check_task(
    task: job_pb2.Task,
    where: str,
    ids: dict[str, int],
    heater_max: dict[str, float],
    density_cap: _DensityCap,
    zones: dict[str, tuple[str, ...]],
    lanes: set[str],
) -> CheckedTask:
    duration_s = _time_s(task.duration_s, f"{where}.duration_s")
    release_s = _time_s(task.release_time_s, f"{where}.release_time_s")
    deadline_s = _time_s(task.deadline_s, f"{where}.deadline_s")
    drift_tolerance_rad = _non_negative(task.drift_tolerance_rad, f"{where}.drift_tolerance_rad")
    if deadline_s and deadline_s < release_s + duration_s:
        raise invalid_argument(
            f"{where}.deadline_s",
            f"deadline {deadline_s} s is before release time + duration "
            f"({release_s + duration_s} s)",
        )
    powers: dict[str, float] = {}
    for j, hp in enumerate(task.heater_powers):
        at = f"{where}.heater_powers[{j}]"
        if hp.heater_id not in heater_max:
            raise invalid_argument(
                f"{at}.heater_id", f"the device has no heater {quoted(hp.heater_id)}"
            )
        if hp.heater_id in powers:
            raise invalid_argument(f"{at}.heater_id", f"heater {quoted(hp.heater_id)} listed twice")
        powers[hp.heater_id] = _non_negative(hp.power_mw, f"{at}.power_mw")
        _at_most(powers[hp.heater_id], heater_max[hp.heater_id], f"{at}.power_mw", hp.heater_id)
        density_cap.check(powers[hp.heater_id], f"{at}.power_mw", hp.heater_id)
    seen_zones: set[str] = set()
    for j, zp in enumerate(task.zone_powers):
        at = f"{where}.zone_powers[{j}]"
        if zp.zone_id not in zones:
            raise invalid_argument(f"{at}.zone_id", f"the device has no zone {quoted(zp.zone_id)}")
        if zp.zone_id in seen_zones:
            raise invalid_argument(f"{at}.zone_id", f"zone {quoted(zp.zone_id)} listed twice")
        seen_zones.add(zp.zone_id)
        share_mw = _non_negative(zp.power_mw, f"{at}.power_mw") / len(zones[zp.zone_id])
        for heater_id in zones[zp.zone_id]:
            powers[heater_id] = powers.get(heater_id, 0.0) + share_mw
            _at_most(powers[heater_id], heater_max[heater_id], f"{at}.power_mw", heater_id)
            density_cap.check(powers[heater_id], f"{at}.power_mw", heater_id)
    for j, lane in enumerate(task.allowed_lanes):
        if lane not in lanes:
            raise invalid_argument(
                f"{where}.allowed_lanes[{j}]", f"the device has no lane {quoted(lane)}"
            )
    for j, dep in enumerate(task.depends_on):
        at = f"{where}.depends_on[{j}]"
        if dep == task.id:
            raise invalid_argument(at, f"task {quoted(task.id)} depends on itself")
        if dep not in ids:
            raise invalid_argument(at, f"unknown task id {quoted(dep)}")
    return CheckedTask(
        id=task.id,
        duration_s=duration_s,
        heater_power_mw={h: p for h, p in powers.items() if p > 0.0},
        allowed_lanes=tuple(dict.fromkeys(task.allowed_lanes)),
        depends_on=tuple(dict.fromkeys(task.depends_on)),
        release_time_s=release_s,
        deadline_s=deadline_s,
        priority=task.priority,
        drift_tolerance_rad=drift_tolerance_rad,
    )


def _time_s(value: float, field: str) -> float:
    _non_negative(value, field)
    if value > MAX_TIME_S:
        raise invalid_argument(field, f"at most {MAX_TIME_S:g} s, got {value:g}")
    return value


def _short_id(value: str, field: str) -> None:
    if len(value) > MAX_ID_CHARS:
        raise invalid_argument(field, f"at most {MAX_ID_CHARS} characters, got {len(value)}")


def _non_negative(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise invalid_argument(field, f"must be a finite number, got {value}")
    if value < 0:
        raise invalid_argument(field, f"must not be negative, got {value}")
    return value


def _at_most(power_mw: float, max_mw: float, field: str, heater_id: str) -> None:
    if power_mw > max_mw:
        raise invalid_argument(
            field,
            f"heater {heater_id!r} would draw {power_mw:g} mW, above its maximum {max_mw:g} mW",
        )


@dataclass(frozen=True)
class _DensityCap:
    """limits.max_power_density_mw_per_mm2, checked per heater over its cell.

    A heater's cell is the square of side its distance to the nearest other heater (the mesh
    pitch; a lone heater's cell is its footprint), see `DeviceProfile.heater_cell_area_mm2`.
    The check is static, per task: heaters are exclusive resources in the planner (a phase
    shifter holds one setting at a time), so at any instant each heater carries the power of
    at most one task, and a cap every task keeps on its own holds along the whole schedule.
    """

    cell_area_mm2: Mapping[str, float]
    cap_mw_per_mm2: float

    def check(self, power_mw: float, field: str, heater_id: str) -> None:
        area_mm2 = self.cell_area_mm2[heater_id]
        # Compared as a product: no division by a zero-area cell of a hand-built profile.
        if power_mw > self.cap_mw_per_mm2 * area_mm2:
            density_mw_per_mm2 = power_mw / area_mm2 if area_mm2 > 0 else math.inf
            raise invalid_argument(
                field,
                f"heater {heater_id!r} would draw {power_mw:g} mW over its {area_mm2:.4g} mm² "
                f"cell, {density_mw_per_mm2:.4g} mW/mm², above the power-density cap "
                f"{self.cap_mw_per_mm2:g} mW/mm²",
            )


def _check_acyclic(tasks: Sequence[CheckedTask], field: str) -> None:
    """Kahn's algorithm; on a cycle, name one task on it (walk back along unfinished edges)."""
    index = {task.id: i for i, task in enumerate(tasks)}
    indegree = [len(task.depends_on) for task in tasks]
    dependants: list[list[int]] = [[] for _ in tasks]
    for i, task in enumerate(tasks):
        for dep in task.depends_on:
            dependants[index[dep]].append(i)
    ready = [i for i, d in enumerate(indegree) if d == 0]
    done = 0
    while ready:
        i = ready.pop()
        done += 1
        for j in dependants[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    if done == len(tasks):
        return
    # Every unfinished task has an unfinished dependency; following them must revisit a task.
    i = next(i for i, d in enumerate(indegree) if d > 0)
    path: list[int] = []
    on_path: set[int] = set()
    while i not in on_path:
        path.append(i)
        on_path.add(i)
        i = next(index[d] for d in tasks[i].depends_on if indegree[index[d]] > 0)
    cycle = [quoted(tasks[k].id) for k in path[path.index(i) :]]
    shown = " -> ".join([*cycle, cycle[0]]) if len(cycle) <= 8 else " -> ".join(cycle[:8])
    more = "" if len(cycle) <= 8 else f" -> … ({len(cycle)} tasks)"
    raise invalid_argument(
        f"{field}.tasks[{i}].depends_on", f"dependencies form a cycle: {shown}{more}"
    )


__all__ = ["CheckedGraph", "CheckedTask", "RequestError", "check_graph"]
