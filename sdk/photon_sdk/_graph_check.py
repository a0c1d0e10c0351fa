"""Client-side validation of task graphs: the structural checks the daemon would make anyway.

Checking before sending saves a round trip and, more usefully, names the bad value in the
SDK's own vocabulary (``tasks[3].duration_s``) at the line that built it. The daemon repeats
every check (clients may skip this one with ``validate=False``) and adds the ones that need the
device: unknown heaters, zones and lanes, power-density and thermal limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ._errors import GraphError

if TYPE_CHECKING:
    from ._task import Task

__all__ = ["check_tasks"]

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def check_tasks(tasks: Sequence[Task]) -> None:
    """Raise :class:`GraphError` for the first problem found, in task order, else return.

    Checks, per task: non-empty unique id; duration, release time, deadline, drift tolerance
    and every power finite and not negative (zero duration is a milestone); priority within
    int32; lanes and dependencies non-empty; dependencies known and not the task itself. Then
    the graph as a whole: not empty, and acyclic.
    """
    if not tasks:
        raise GraphError("tasks", "the graph has no tasks")
    first_index: dict[str, int] = {}
    for index, task in enumerate(tasks):
        where = f"tasks[{index}]"
        if not isinstance(task.id, str) or not task.id:
            raise GraphError(f"{where}.id", "must be a non-empty string")
        if task.id in first_index:
            raise GraphError(
                f"{where}.id", f"duplicate id {task.id!r} (also tasks[{first_index[task.id]}])"
            )
        first_index[task.id] = index
    for index, task in enumerate(tasks):
        _check_task(f"tasks[{index}]", task, first_index)
    _check_acyclic(tasks, first_index)


def _check_task(where: str, task: Task, known: Mapping[str, int]) -> None:
    _check_amount(f"{where}.duration_s", task.duration_s)
    _check_amount(f"{where}.release_time_s", task.release_time_s)
    _check_amount(f"{where}.deadline_s", task.deadline_s)
    _check_amount(f"{where}.drift_tolerance_rad", task.drift_tolerance_rad)
    for key in ("heater_power_mw", "zone_power_mw"):
        powers: Mapping[str, float] = getattr(task, key)
        for target_id, power in powers.items():
            if not isinstance(target_id, str) or not target_id:
                raise GraphError(f"{where}.{key}", "ids must be non-empty strings")
            _check_amount(f'{where}.{key}["{target_id}"]', power)
    if (
        not isinstance(task.priority, int)
        or isinstance(task.priority, bool)
        or not _INT32_MIN <= task.priority <= _INT32_MAX
    ):
        raise GraphError(f"{where}.priority", f"must be a 32-bit integer, got {task.priority!r}")
    for position, lane in enumerate(task.allowed_lanes):
        if not isinstance(lane, str) or not lane:
            raise GraphError(f"{where}.allowed_lanes[{position}]", "must be a non-empty string")
    for position, dependency in enumerate(task.depends_on):
        field = f"{where}.depends_on[{position}]"
        if dependency == task.id:
            raise GraphError(field, f"task {task.id!r} depends on itself")
        if dependency not in known:
            raise GraphError(field, f"unknown task {dependency!r}")


def _check_amount(field: str, value: object) -> None:
    """Durations, times, powers and tolerances: finite numbers, zero or more."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GraphError(field, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise GraphError(field, f"must be finite and not negative, got {value!r}")


def _check_acyclic(tasks: Sequence[Task], index_of: Mapping[str, int]) -> None:
    # Kahn's algorithm: whatever cannot be peeled off in dependency order lies on or behind a
    # cycle, and every such task has a dependency that cannot be peeled off either.
    waiting = {task.id: len(set(task.depends_on)) for task in tasks}
    dependents: dict[str, list[str]] = {task.id: [] for task in tasks}
    for task in tasks:
        for dependency in set(task.depends_on):
            dependents[dependency].append(task.id)
    ready = [task_id for task_id, count in waiting.items() if count == 0]
    while ready:
        done = ready.pop()
        for dependent in dependents[done]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    stuck = {task_id for task_id, count in waiting.items() if count > 0}
    if not stuck:
        return
    # Walk stuck dependencies from the first stuck task until a task repeats: that is a cycle.
    path: list[str] = []
    seen: dict[str, int] = {}
    current = min(stuck, key=index_of.__getitem__)
    while current not in seen:
        seen[current] = len(path)
        path.append(current)
        task = tasks[index_of[current]]
        current = next(dep for dep in task.depends_on if dep in stuck)
    cycle = [*path[seen[current] :], current]
    start = cycle[0]
    chain = " -> ".join(cycle)
    raise GraphError(
        f"tasks[{index_of[start]}].depends_on",
        f"dependency cycle through {start!r}: {chain} (each depends on the next)",
    )
