"""One task of a task graph: the unit of work on the chip, and its wire message.

A module of its own so that the graph's checks (`_graph_check`) and its JSON form
(`_graph_dict`) can use the type without importing the graph builder that uses them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from photon.v1 import job_pb2

from ._errors import GraphError


@dataclass(frozen=True)
class Task:
    """One unit of work on the chip.

    Zero ``duration_s`` makes a milestone; zero ``release_time_s``, ``deadline_s`` and
    ``drift_tolerance_rad`` mean "none". Times are seconds after the job starts. Powers are
    per heater or per zone (a zone's power is split evenly among its heaters). Empty
    ``allowed_lanes`` means any lane. Higher ``priority`` runs first among ready tasks.
    """

    id: str
    duration_s: float
    heater_power_mw: dict[str, float] = field(default_factory=dict)
    zone_power_mw: dict[str, float] = field(default_factory=dict)
    allowed_lanes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    release_time_s: float = 0.0
    deadline_s: float = 0.0
    priority: int = 0
    drift_tolerance_rad: float = 0.0

    def to_proto(self) -> job_pb2.Task:
        """Return the wire message for this task (no validation)."""
        return job_pb2.Task(
            id=self.id,
            duration_s=self.duration_s,
            heater_powers=[
                job_pb2.HeaterPower(heater_id=k, power_mw=v)
                for k, v in self.heater_power_mw.items()
            ],
            zone_powers=[
                job_pb2.ZonePower(zone_id=k, power_mw=v) for k, v in self.zone_power_mw.items()
            ],
            allowed_lanes=self.allowed_lanes,
            depends_on=self.depends_on,
            release_time_s=self.release_time_s,
            deadline_s=self.deadline_s,
            priority=self.priority,
            drift_tolerance_rad=self.drift_tolerance_rad,
        )

    @classmethod
    def from_proto(cls, message: job_pb2.Task, *, where: str = "task") -> Task:
        """Build a task from its wire message; a heater or zone named twice is a GraphError."""
        heaters = _unique_powers(
            ((p.heater_id, p.power_mw) for p in message.heater_powers), f"{where}.heater_power_mw"
        )
        zones = _unique_powers(
            ((p.zone_id, p.power_mw) for p in message.zone_powers), f"{where}.zone_power_mw"
        )
        return cls(
            id=message.id,
            duration_s=message.duration_s,
            heater_power_mw=heaters,
            zone_power_mw=zones,
            allowed_lanes=tuple(message.allowed_lanes),
            depends_on=tuple(message.depends_on),
            release_time_s=message.release_time_s,
            deadline_s=message.deadline_s,
            priority=message.priority,
            drift_tolerance_rad=message.drift_tolerance_rad,
        )


def _unique_powers(pairs: Iterable[tuple[str, float]], where: str) -> dict[str, float]:
    powers: dict[str, float] = {}
    for target_id, power in pairs:
        if target_id in powers:
            raise GraphError(f'{where}["{target_id}"]', "named more than once")
        powers[target_id] = power
    return powers
