"""A plan: when and on which lane each task runs, with what the planner predicted of it.

One type for every plan in the daemon: the optimiser's at SubmitJob, the loop's re-plans, the
journal's restored copy. Times are seconds after the job's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from photond.planning.graph import CheckedGraph

# How far below max temperature a plan peaks unless the loop asks for more: rounding and the
# modes a model leaves out must not carry a planned peak across the limit.
DEFAULT_MARGIN_C = 0.25


@dataclass(frozen=True)
class Stats:
    """What planning cost: reported with every plan."""

    level: str
    planner: str
    replicas: int
    rounds: int
    evaluations: int
    elapsed_s: float
    seed_makespan_ticks: int

    @property
    def evaluations_per_s(self) -> float:
        return self.evaluations / self.elapsed_s if self.elapsed_s > 0 else 0.0


class PlannedTask(NamedTuple):
    """One task's place in a plan. A named tuple, not a dataclass: the loop builds a thousand
    of these per re-plan, and a tuple is built several times faster."""

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
