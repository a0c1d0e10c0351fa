"""One task to and from the JSON file format, with type checks that name the bad key.

Kept apart from :mod:`photon_sdk.graph` because strict parsing of untrusted JSON is its own
job: every value's type is checked here so that validation later can rely on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._errors import GraphError
from ._task import Task

__all__ = ["task_from_dict", "task_to_dict"]

_AMOUNTS = ("duration_s", "release_time_s", "deadline_s", "drift_tolerance_rad")
_KEYS = frozenset(
    {"id", "heater_power_mw", "zone_power_mw", "lanes", "depends_on", "priority", *_AMOUNTS}
)


def task_to_dict(task: Task) -> dict[str, Any]:
    """Return one task in the file format, every key written out."""
    return {
        "id": task.id,
        "duration_s": task.duration_s,
        "heater_power_mw": dict(task.heater_power_mw),
        "zone_power_mw": dict(task.zone_power_mw),
        "lanes": list(task.allowed_lanes),
        "depends_on": list(task.depends_on),
        "release_time_s": task.release_time_s,
        "deadline_s": task.deadline_s,
        "priority": task.priority,
        "drift_tolerance_rad": task.drift_tolerance_rad,
    }


def task_from_dict(data: object, where: str) -> Task:
    """Parse one task object; ``id`` and ``duration_s`` are required, unknown keys rejected."""
    if not isinstance(data, Mapping):
        raise GraphError(where, "must be a JSON object")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise GraphError(
            f"{where}.{unknown[0]}", f"unknown key(s): {', '.join(map(repr, unknown))}"
        )
    for required in ("id", "duration_s"):
        if required not in data:
            raise GraphError(f"{where}.{required}", "is required")
    task_id = data["id"]
    if not isinstance(task_id, str):
        raise GraphError(f"{where}.id", "must be a string")
    amounts = {key: _number(data.get(key, 0.0), f"{where}.{key}") for key in _AMOUNTS}
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise GraphError(f"{where}.priority", f"must be an integer, got {priority!r}")
    return Task(
        id=task_id,
        heater_power_mw=_powers(data.get("heater_power_mw", {}), f"{where}.heater_power_mw"),
        zone_power_mw=_powers(data.get("zone_power_mw", {}), f"{where}.zone_power_mw"),
        allowed_lanes=_strings(data.get("lanes", []), f"{where}.lanes"),
        depends_on=_strings(data.get("depends_on", []), f"{where}.depends_on"),
        priority=priority,
        duration_s=amounts["duration_s"],
        release_time_s=amounts["release_time_s"],
        deadline_s=amounts["deadline_s"],
        drift_tolerance_rad=amounts["drift_tolerance_rad"],
    )


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GraphError(field, f"must be a number, got {value!r}")
    return float(value)


def _powers(value: object, field: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise GraphError(field, 'must be an object of id to milliwatts, e.g. {"h00": 12.0}')
    return {str(key): _number(power, f'{field}["{key}"]') for key, power in value.items()}


def _strings(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise GraphError(field, "must be a list of strings")
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise GraphError(f"{field}[{position}]", f"must be a string, got {item!r}")
    return tuple(value)
