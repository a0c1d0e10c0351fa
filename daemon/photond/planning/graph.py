"""The task graph the planner, the loop and the job book work with: checked, zones resolved.

`photond.rpc.validation.check_graph` builds it from the wire message (every field checked, each
zone split into per-heater powers); nothing below the RPC layer sees the wire form.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckedTask:
    id: str
    duration_s: float
    # Resolved per-heater powers (explicit heater powers plus zone shares).
    heater_power_mw: dict[str, float]
    allowed_lanes: tuple[str, ...]
    depends_on: tuple[str, ...]
    release_time_s: float
    deadline_s: float
    priority: int
    # Phase error (rad) the task tolerates from other tasks' heat while it runs; 0 = none.
    drift_tolerance_rad: float = 0.0


@dataclass(frozen=True)
class CheckedGraph:
    tasks: tuple[CheckedTask, ...]

    def by_id(self) -> dict[str, CheckedTask]:
        return {task.id: task for task in self.tasks}
