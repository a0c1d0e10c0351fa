"""A first correct planner: serial list scheduling over lanes and heaters.

Tasks are taken in an order that respects dependencies (among the ready ones: higher priority,
then earlier deadline, then longer duration, then the order given) and each is placed at the
earliest time when its dependencies have finished, its release time has come, one of its
allowed lanes is free and none of its heaters is driven by another task. A heater is a
resource because a phase shifter holds one setting at a time: two tasks that drive the same
heater cannot overlap. Thermal limits are not planned for here; the thermal-aware optimizer
replaces this planner and keeps its interface.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from photond.rpc.validation import CheckedGraph, CheckedTask

if TYPE_CHECKING:
    from photond.planning.optimize import Stats

PLANNER_NAME = "list-scheduling"


@dataclass(frozen=True)
class PlannedTask:
    task_id: str
    lane_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Plan:
    tasks: tuple[PlannedTask, ...]
    makespan_s: float
    lower_bound_s: float
    planner: str
    planning_time_s: float
    # What the planner's thermal model predicts (0 when it made no prediction).
    predicted_peak_temperature_c: float = 0.0
    predicted_peak_gradient_c_per_mm: float = 0.0
    aging_hours: float = 0.0
    # The optimiser's `Stats` (level, replicas, rounds, evaluations, time), when it planned.
    statistics: Stats | None = None

    @property
    def gap_to_bound(self) -> float:
        if self.lower_bound_s <= 0:
            return 0.0
        return (self.makespan_s - self.lower_bound_s) / self.lower_bound_s

    def missed_deadlines(self, graph: CheckedGraph) -> list[tuple[str, float, float]]:
        """(task id, planned end, deadline) for every task that would end after its deadline."""
        tasks = graph.by_id()
        return [
            (p.task_id, p.end_s, tasks[p.task_id].deadline_s)
            for p in self.tasks
            if tasks[p.task_id].deadline_s and p.end_s > tasks[p.task_id].deadline_s + 1e-9
        ]


def plan_list_schedule(graph: CheckedGraph, lane_ids: tuple[str, ...]) -> Plan:
    """Place every task once; the result respects dependencies, lanes and heater exclusivity."""
    started = time.perf_counter()
    tasks = graph.tasks
    index = {task.id: i for i, task in enumerate(tasks)}
    waiting_on = [len(task.depends_on) for task in tasks]
    dependants: list[list[int]] = [[] for _ in tasks]
    for i, task in enumerate(tasks):
        for dep in task.depends_on:
            dependants[index[dep]].append(i)

    lane_free_s = dict.fromkeys(lane_ids, 0.0)
    # Busy intervals per heater; tasks are placed at their earliest fit, not appended at the end,
    # so a later task may fill an earlier gap.
    heater_busy: dict[str, list[tuple[float, float]]] = {}
    end_s = [0.0] * len(tasks)
    placed: list[PlannedTask] = []
    ready: list[tuple[int, float, float, int]] = []
    for i, task in enumerate(tasks):
        if waiting_on[i] == 0:
            heapq.heappush(ready, _rank(task, i))
    while ready:
        i = heapq.heappop(ready)[-1]
        task = tasks[i]
        earliest_s = max([task.release_time_s, *(end_s[index[d]] for d in task.depends_on)])
        lane, start_s = _earliest_slot(task, earliest_s, lane_ids, lane_free_s, heater_busy)
        finish_s = start_s + task.duration_s
        lane_free_s[lane] = finish_s
        for heater_id in task.heater_power_mw:
            heater_busy.setdefault(heater_id, []).append((start_s, finish_s))
        end_s[i] = finish_s
        placed.append(PlannedTask(task.id, lane, start_s, finish_s))
        for j in dependants[i]:
            waiting_on[j] -= 1
            if waiting_on[j] == 0:
                heapq.heappush(ready, _rank(tasks[j], j))
    placed.sort(key=lambda p: (p.start_s, p.task_id))
    return Plan(
        tasks=tuple(placed),
        makespan_s=max(end_s, default=0.0),
        lower_bound_s=lower_bound_s(graph, len(lane_ids)),
        planner=PLANNER_NAME,
        planning_time_s=time.perf_counter() - started,
    )


def lower_bound_s(graph: CheckedGraph, lane_count: int) -> float:
    """The larger of the critical path (with release times) and total work ÷ lanes."""
    by_id = graph.by_id()
    finish: dict[str, float] = {}

    def earliest_finish(task: CheckedTask) -> float:
        # Iterative to survive deep chains: resolve dependencies before the task itself.
        stack = [task]
        while stack:
            top = stack[-1]
            pending = [by_id[d] for d in top.depends_on if d not in finish]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            start = max([top.release_time_s, *(finish[d] for d in top.depends_on)])
            finish[top.id] = start + top.duration_s
        return finish[task.id]

    critical_path_s = max(earliest_finish(task) for task in graph.tasks)
    work_per_lane_s = sum(task.duration_s for task in graph.tasks) / max(lane_count, 1)
    return max(critical_path_s, work_per_lane_s)


def _rank(task: CheckedTask, i: int) -> tuple[int, float, float, int]:
    deadline = task.deadline_s if task.deadline_s else float("inf")
    return (-task.priority, deadline, -task.duration_s, i)


def _earliest_slot(
    task: CheckedTask,
    earliest_s: float,
    lane_ids: tuple[str, ...],
    lane_free_s: dict[str, float],
    heater_busy: dict[str, list[tuple[float, float]]],
) -> tuple[str, float]:
    allowed = task.allowed_lanes or lane_ids
    best: tuple[float, str] | None = None
    for lane in allowed:
        start_s = _heaters_free_from(task, max(earliest_s, lane_free_s[lane]), heater_busy)
        if best is None or start_s < best[0]:
            best = (start_s, lane)
    assert best is not None  # allowed is never empty: validation checked the lanes
    return best[1], best[0]


def _heaters_free_from(
    task: CheckedTask, start_s: float, heater_busy: dict[str, list[tuple[float, float]]]
) -> float:
    """Earliest start >= start_s at which no heater of the task is busy for its duration."""
    moved = True
    while moved:
        moved = False
        end_s = start_s + task.duration_s
        for heater_id in task.heater_power_mw:
            for busy_start, busy_end in heater_busy.get(heater_id, ()):
                if start_s < busy_end and busy_start < end_s:
                    start_s = busy_end
                    moved = True
                    break
            if moved:
                break
    return start_s
