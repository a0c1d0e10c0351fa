"""Task graphs: build them in code or load them from JSON, check them, and convert to the wire.

A task graph is what a compile host submits: tasks with durations, the heater and zone powers
they draw while running, the lanes they may use and the tasks they wait for. The JSON file
format read by ``photonctl submit`` is :meth:`TaskGraph.to_dict` written out::

    {"name": "mesh-calibration",
     "tasks": [{"id": "a", "duration_s": 0.5, "heater_power_mw": {"h00": 12.0},
                "zone_power_mw": {"z0": 40.0}, "lanes": ["wl0"], "depends_on": [],
                "release_time_s": 0, "deadline_s": 0, "priority": 0,
                "drift_tolerance_rad": 0}]}

Only ``id`` and ``duration_s`` are required per task; unknown keys are errors, so a typo never
silently becomes a default.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from photon.v1 import job_pb2

from ._errors import GraphError
from ._graph_check import check_tasks
from ._graph_dict import task_from_dict, task_to_dict
from ._task import Task

__all__ = ["Task", "TaskGraph"]


class TaskGraph:
    """A directed acyclic graph of tasks, built incrementally.

    Example::

        g = TaskGraph(name="calibrate")
        g.add_task("a", duration_s=0.5, heater_power_mw={"h00": 12.0}, lanes=["wl0"])
        g.add_task("b", duration_s=0.2, depends_on=["a"])
        g.validate()

    Adding does not check anything, so a graph loaded from elsewhere and one built in code
    are validated by the same :meth:`validate`, which names the offending field.
    """

    def __init__(self, tasks: Iterable[Task] = (), *, name: str = "") -> None:
        self.name = name
        self._tasks: list[Task] = list(tasks)

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks in the order they were added."""
        return tuple(self._tasks)

    def add(self, task: Task) -> Task:
        """Append an existing :class:`Task` and return it."""
        self._tasks.append(task)
        return task

    def add_task(
        self,
        id: str,
        *,
        duration_s: float,
        heater_power_mw: Mapping[str, float] | None = None,
        zone_power_mw: Mapping[str, float] | None = None,
        lanes: Iterable[str] = (),
        depends_on: Iterable[str] = (),
        release_time_s: float = 0.0,
        deadline_s: float = 0.0,
        priority: int = 0,
        drift_tolerance_rad: float = 0.0,
    ) -> Task:
        """Create a task, append it and return it. ``lanes`` becomes ``Task.allowed_lanes``."""
        return self.add(
            Task(
                id=id,
                duration_s=duration_s,
                heater_power_mw=dict(heater_power_mw or {}),
                zone_power_mw=dict(zone_power_mw or {}),
                allowed_lanes=tuple(lanes),
                depends_on=tuple(depends_on),
                release_time_s=release_time_s,
                deadline_s=deadline_s,
                priority=priority,
                drift_tolerance_rad=drift_tolerance_rad,
            )
        )

    def task(self, task_id: str) -> Task:
        """Return the task with this id; KeyError when there is none."""
        for task in self._tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks)

    def __contains__(self, task_id: object) -> bool:
        return any(task.id == task_id for task in self._tasks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskGraph):
            return NotImplemented
        return self.name == other.name and self._tasks == other._tasks

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"TaskGraph(name={self.name!r}, tasks={len(self._tasks)})"

    def validate(self) -> None:
        """Check the graph's structure; raise :class:`GraphError` naming the bad field.

        Catches an empty graph, empty or duplicate ids, unknown or self dependencies, cycles,
        and negative, NaN or infinite durations, powers, release times, deadlines and drift
        tolerances. Device-specific checks (unknown heaters, thermal limits) are the daemon's.
        """
        check_tasks(self._tasks)

    def to_proto(self) -> job_pb2.TaskGraph:
        """Return the wire message (the name travels separately, in the submit request)."""
        return job_pb2.TaskGraph(tasks=[task.to_proto() for task in self._tasks])

    @classmethod
    def from_proto(cls, message: job_pb2.TaskGraph, *, name: str = "") -> TaskGraph:
        """Build a graph from its wire message."""
        tasks = [Task.from_proto(t, where=f"tasks[{i}]") for i, t in enumerate(message.tasks)]
        return cls(tasks, name=name)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON file format as plain data (every key written out)."""
        return {"name": self.name, "tasks": [task_to_dict(task) for task in self._tasks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskGraph:
        """Parse the JSON file format from plain data; GraphError names the bad key."""
        if not isinstance(data, Mapping):
            raise GraphError("", "a task graph must be a JSON object")
        unknown = sorted(set(data) - {"name", "tasks"})
        if unknown:
            raise GraphError(unknown[0], f"unknown key(s): {', '.join(map(repr, unknown))}")
        name = data.get("name", "")
        if not isinstance(name, str):
            raise GraphError("name", "must be a string")
        tasks = data.get("tasks")
        if not isinstance(tasks, list):
            raise GraphError("tasks", "must be a list of task objects")
        return cls([task_from_dict(t, f"tasks[{i}]") for i, t in enumerate(tasks)], name=name)

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the JSON file format as text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, path_or_text: str | os.PathLike[str]) -> TaskGraph:
        """Parse JSON text, or read a file when given a path (text not starting with ``{``)."""
        if isinstance(path_or_text, str) and path_or_text.lstrip().startswith("{"):
            try:
                data = json.loads(path_or_text)
            except json.JSONDecodeError as exc:
                raise GraphError("", f"not valid JSON: {exc}") from exc
            return cls.from_dict(data)
        return cls.load(path_or_text)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TaskGraph:
        """Read a graph from a JSON file. An unreadable file raises OSError as usual."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GraphError("", f"{os.fspath(path)} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)
