"""UpdateLimits' checks: within the profile's hard limits, consistent with each other."""

from __future__ import annotations

import dataclasses

import pytest

from photon.v1 import device_pb2
from photon_drivers.profile import LimitsSpec, load_profile
from photond.rpc.limits import merged_limits
from photond.rpc.status import RequestError

PROFILE = load_profile()
MARGIN_C = 3.0


def merged(**fields: float) -> LimitsSpec:
    return merged_limits(device_pb2.Limits(**fields), PROFILE.limits, PROFILE, MARGIN_C)


def test_zero_fields_keep_the_limits_in_force() -> None:
    current = dataclasses.replace(PROFILE.limits, max_device_temperature_c=60.0)
    limits = merged_limits(
        device_pb2.Limits(max_thermal_gradient_c_per_mm=2.0), current, PROFILE, MARGIN_C
    )
    assert limits == dataclasses.replace(current, max_thermal_gradient_c_per_mm=2.0)


def test_tighten_and_relax_within_the_profile() -> None:
    tight = merged(max_device_temperature_c=50.0, interlock_temperature_c=70.0)
    assert tight.max_device_temperature_c == 50.0 and tight.interlock_temperature_c == 70.0
    # Relaxing back up to the profile's values is allowed; max temperature alone is not,
    # above the interlock set with it.
    hard = PROFILE.limits
    with pytest.raises(RequestError, match="interlock_temperature_c"):
        merged_limits(
            device_pb2.Limits(max_device_temperature_c=hard.max_device_temperature_c),
            tight,
            PROFILE,
            MARGIN_C,
        )
    back = merged_limits(
        device_pb2.Limits(
            max_device_temperature_c=hard.max_device_temperature_c,
            interlock_temperature_c=hard.interlock_temperature_c,
        ),
        tight,
        PROFILE,
        MARGIN_C,
    )
    assert back == hard


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_device_temperature_c": 86.0}, "limits.max_device_temperature_c"),
        ({"max_thermal_gradient_c_per_mm": 6.0}, "limits.max_thermal_gradient_c_per_mm"),
        ({"max_power_density_mw_per_mm2": 1e9}, "limits.max_power_density_mw_per_mm2"),
        ({"interlock_temperature_c": 99.0}, "limits.interlock_temperature_c"),
        ({"max_device_temperature_c": float("nan")}, "limits.max_device_temperature_c"),
        ({"max_device_temperature_c": -5.0}, "limits.max_device_temperature_c"),
        # Below ambient (25) + margin: no task could run.
        ({"max_device_temperature_c": 27.0}, "limits.max_device_temperature_c"),
        # The interlock must stay above max temperature.
        ({"interlock_temperature_c": 80.0}, "limits.interlock_temperature_c"),
        # The hysteresis may grow, not shrink, and must stay below the interlock's rise.
        ({"interlock_hysteresis_c": 1.0}, "limits.interlock_hysteresis_c"),
        ({"interlock_hysteresis_c": 80.0}, "limits.interlock_hysteresis_c"),
    ],
)
def test_refusals_name_the_field(fields: dict[str, float], field: str) -> None:
    with pytest.raises(RequestError) as refused:
        merged(**fields)
    assert refused.value.field == field
    assert refused.value.code.name == "INVALID_ARGUMENT"


def test_over_density_names_the_task_and_heater() -> None:
    from photond.planning.graph import CheckedGraph, CheckedTask
    from photond.rpc.limits import over_density

    area = PROFILE.heater_cell_area_mm2["h00"]

    def graph(power_mw: float) -> CheckedGraph:
        return CheckedGraph((CheckedTask("t", 1.0, {"h00": power_mw}, (), (), 0.0, 0.0, 0),))

    assert over_density(graph(49.0 * area), PROFILE, 50.0) == ""
    reason = over_density(graph(51.0 * area), PROFILE, 50.0)
    assert "task 't'" in reason and "'h00'" in reason and "50 mW/mm²" in reason
