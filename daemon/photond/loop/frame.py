"""What the device loop tells telemetry each control period: a `Frame`.

Plain values taken on the loop's thread (readings, powers, the observer's estimate, the job's
progress, the device's health); turned into wire messages on the RPC side (`photond.wire`),
once per frame and view, whose bytes every subscriber of that view then shares (`encoded`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from photond.loop.health import HEALTHY, Health

# A sensor's state in a frame: (profile index, sensor id, "distrusted" or "failed", reason).
SensorCondition = tuple[int, str, str, str]


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    tasks_done: int
    tasks_total: int
    replans: int
    predicted_peak_temperature_c: float


@dataclass(frozen=True, eq=False)
class Frame:
    """One reading of every sensor (profile order), as the control loop took it.

    `temperature_c` holds the raw readings: what every subscriber is sent. ON_CHANGE judges a
    change on the hub's filtered copy of them (`change_filter`), which no frame carries.
    """

    device_time_s: float
    wall_time_s: float
    temperature_c: tuple[float, ...]
    total_heater_power_mw: float
    # Per zone (profile order) and the observer's estimate per heater footprint (profile order).
    zone_power_mw: tuple[float, ...] = ()
    estimated_heater_temperature_c: tuple[float, ...] = ()
    # Only the sensors that are not OK.
    sensor_status: tuple[SensorCondition, ...] = ()
    job: JobProgress | None = None
    health: Health = HEALTHY
    loop_lateness_s: float = 0.0
    # Wire bytes of this frame by view (a selection of sensors), filled by the RPC side.
    encoded: dict[object, bytes] = field(default_factory=dict, repr=False)
