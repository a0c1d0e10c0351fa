"""UpdateLimits: an admin tightens or relaxes a device's operating limits, within its profile's.

The profile's limits are the hard maxima, what the chip allows; the limits in force may be set
anywhere at or below them (the interlock's hysteresis at or above the profile's: a larger one
is the safer side). A field of the request left 0 keeps the value in force, so a client can
change one limit alone. The new limits must still make sense together: max temperature above
ambient plus the planning margin, the interlock above max temperature, the hysteresis below the
interlock's rise over ambient. Every refusal is INVALID_ARGUMENT naming `limits.<field>`.

What changes, once the new limits are journaled (`Journal.save_limits`, read back at start):
plans made from then on (the planning pool plans with them), the running job (its rest is
forecast at the next control period and re-planned if it exceeds the new max temperature -
margin: `ClosedLoop.set_limits`), queued jobs (forecast and re-planned the same way when they
start; one with a task above a lowered power-density cap, which no schedule can fix, fails at
once saying so: `over_density`), the interlock's trip and clear temperatures, and what
GetDevice reports. The running job's tasks keep their powers: a lowered power-density cap
applies from its next job on.
"""

from __future__ import annotations

import math

from photon.v1 import device_pb2
from photon_drivers.profile import DeviceProfile, LimitsSpec
from photond.planning.graph import CheckedGraph
from photond.rpc.status import invalid_argument

FIELDS = (
    "max_device_temperature_c",
    "max_thermal_gradient_c_per_mm",
    "max_power_density_mw_per_mm2",
    "interlock_temperature_c",
    "interlock_hysteresis_c",
)
# The hysteresis may only grow: the interlock then clears later, which is the safe side.
_AT_LEAST_PROFILE = {"interlock_hysteresis_c"}


def merged_limits(
    request: device_pb2.Limits, current: LimitsSpec, profile: DeviceProfile, margin_c: float
) -> LimitsSpec:
    """The limits `request` asks for over `current`, checked against the profile's hard ones."""
    hard = profile.limits
    values: dict[str, float] = {}
    for name in FIELDS:
        value = getattr(request, name)
        field = f"limits.{name}"
        if value == 0:
            values[name] = getattr(current, name)
            continue
        if not math.isfinite(value) or value < 0:
            raise invalid_argument(field, f"a finite positive number, got {value}")
        bound = getattr(hard, name)
        if name in _AT_LEAST_PROFILE:
            if value < bound - 1e-9:
                raise invalid_argument(
                    field, f"at least the profile's {bound:g} (the safe side), got {value:g}"
                )
        elif value > bound + 1e-9:
            raise invalid_argument(
                field, f"at most the profile's {bound:g} (its hard maximum), got {value:g}"
            )
        values[name] = value
    limits = LimitsSpec(**values)
    floor_c = profile.ambient_c + margin_c
    if limits.max_device_temperature_c <= floor_c:
        raise invalid_argument(
            "limits.max_device_temperature_c",
            f"must be above ambient {profile.ambient_c:g} °C plus the planning margin "
            f"{margin_c:g} °C ({floor_c:g} °C), or no task could run; "
            f"got {limits.max_device_temperature_c:g}",
        )
    if limits.interlock_temperature_c <= limits.max_device_temperature_c:
        raise invalid_argument(
            "limits.interlock_temperature_c",
            f"must be above max_device_temperature_c ({limits.max_device_temperature_c:g} °C), "
            f"got {limits.interlock_temperature_c:g}",
        )
    if limits.interlock_hysteresis_c >= limits.interlock_temperature_c - profile.ambient_c:
        raise invalid_argument(
            "limits.interlock_hysteresis_c",
            f"must be below the interlock's rise over ambient "
            f"({limits.interlock_temperature_c - profile.ambient_c:g} °C), "
            f"got {limits.interlock_hysteresis_c:g}",
        )
    return limits


def over_density(graph: CheckedGraph, profile: DeviceProfile, cap_mw_per_mm2: float) -> str:
    """Why `graph` draws above `cap_mw_per_mm2` on some heater's cell ("" when it does not):
    the check SubmitJob makes (`validation`), for a queued job when UpdateLimits lowers the
    cap. Heaters are exclusive resources, so a cap each task keeps holds along any schedule."""
    areas = profile.heater_cell_area_mm2
    for task in graph.tasks:
        for heater_id, power_mw in task.heater_power_mw.items():
            if power_mw > cap_mw_per_mm2 * areas[heater_id]:
                return (
                    f"task {task.id!r} draws {power_mw:g} mW on heater {heater_id!r}, above the "
                    f"power-density cap {cap_mw_per_mm2:g} mW/mm² UpdateLimits set "
                    f"({areas[heater_id]:.4g} mm² cell)"
                )
    return ""
