"""The power-density cap: each heater's power in a task over its cell, at SubmitJob and in the
independent validator.

The default profile's heaters (30 mW at most over a 0.390625 mm² cell, 76.8 mW/mm²) can never
reach its 100 mW/mm² cap, so these tests lower the cap to 50 mW/mm²: 19.53125 mW per heater.
"""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from photon.v1 import job_pb2
from photon_drivers.profile import ProfileError, load_profile, parse_profile
from photond.planning.plan import PlannedTask
from photond.planning.validator import validate_plan
from photond.rpc.status import RequestError
from photond.rpc.validation import check_graph

PROFILE = load_profile()
CAP_MW_PER_MM2 = 50.0
LOW_CAP = dataclasses.replace(
    PROFILE,
    limits=dataclasses.replace(PROFILE.limits, max_power_density_mw_per_mm2=CAP_MW_PER_MM2),
)
PITCH_MM = 0.625
MAX_MW = CAP_MW_PER_MM2 * PITCH_MM**2  # 19.53125 mW


def heater_task(power_mw: float, heater_id: str = "h00") -> job_pb2.Task:
    return job_pb2.Task(
        id="a",
        duration_s=1.0,
        heater_powers=[job_pb2.HeaterPower(heater_id=heater_id, power_mw=power_mw)],
    )


def refused(task: job_pb2.Task) -> RequestError:
    with pytest.raises(RequestError) as info:
        check_graph(job_pb2.TaskGraph(tasks=[task]), LOW_CAP, 10)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return info.value


def test_cells_are_the_mesh_pitch_squared() -> None:
    assert set(PROFILE.heater_cell_area_mm2.values()) == {PITCH_MM**2}
    assert PROFILE.heater_cell_area_mm2 is PROFILE.heater_cell_area_mm2, "computed once"


def test_a_lone_heater_is_capped_over_its_footprint() -> None:
    lone = dataclasses.replace(PROFILE, heaters=PROFILE.heaters[:1], zones=())
    heater = lone.heaters[0]
    footprint_mm2 = heater.width_mm * heater.height_mm
    assert lone.heater_cell_area_mm2 == {heater.id: footprint_mm2}
    at_cap_mw = lone.limits.max_power_density_mw_per_mm2 * footprint_mm2  # 3 mW at 100 mW/mm²
    check_graph(job_pb2.TaskGraph(tasks=[heater_task(0.99 * at_cap_mw)]), lone, 10)
    with pytest.raises(RequestError) as info:
        check_graph(job_pb2.TaskGraph(tasks=[heater_task(1.01 * at_cap_mw)]), lone, 10)
    assert info.value.field == "graph.tasks[0].heater_powers[0].power_mw"


def test_above_the_cap_is_refused_naming_the_field() -> None:
    error = refused(heater_task(19.6))
    assert error.field == "graph.tasks[0].heater_powers[0].power_mw"
    assert "h00" in error.message and "50 mW/mm²" in error.message
    assert "0.3906 mm²" in error.message and "50.18 mW/mm²" in error.message


def test_just_below_the_cap_passes() -> None:
    checked = check_graph(job_pb2.TaskGraph(tasks=[heater_task(19.5)]), LOW_CAP, 10)
    assert checked.tasks[0].heater_power_mw == {"h00": 19.5}
    check_graph(job_pb2.TaskGraph(tasks=[heater_task(MAX_MW)]), LOW_CAP, 10)  # at the cap


def test_zone_shares_count_toward_the_cap() -> None:
    # z0 splits 80 mW over its 8 heaters: 10 mW more on h00, 20 mW in all.
    task = heater_task(10.0)
    task.zone_powers.add(zone_id="z0", power_mw=80.0)
    error = refused(task)
    assert error.field == "graph.tasks[0].zone_powers[0].power_mw"
    alone = job_pb2.Task(id="a", duration_s=1.0)
    alone.zone_powers.add(zone_id="z0", power_mw=80.0)
    check_graph(job_pb2.TaskGraph(tasks=[alone]), LOW_CAP, 10)


def test_the_default_cap_does_not_bind_the_default_heaters() -> None:
    check_graph(job_pb2.TaskGraph(tasks=[heater_task(30.0)]), PROFILE, 10)


def test_validator_flags_a_task_over_the_cap() -> None:
    # Checked against the default profile (cap 100), then validated against the lower cap.
    checked = check_graph(job_pb2.TaskGraph(tasks=[heater_task(25.0, "h12")]), PROFILE, 10)
    placed = [PlannedTask("a", "wl0", 0.0, 1.0)]
    assert validate_plan(checked, placed, PROFILE, thermal=False) == []
    problems = validate_plan(checked, placed, LOW_CAP, thermal=False)
    assert len(problems) == 1 and "h12" in problems[0] and "mW/mm²" in problems[0]


def test_two_heaters_on_one_centre_are_a_profile_error() -> None:
    data = {
        "model": "two on one spot",
        "die": {
            "width_mm": 1.0,
            "height_mm": 1.0,
            "layers": [
                {
                    "name": "si",
                    "thickness_mm": 0.5,
                    "conductivity_w_per_m_k": 140.0,
                    "volumetric_heat_capacity_j_per_m3_k": 1.63e6,
                }
            ],
        },
        "package": {"die_to_ambient_k_per_w": 50.0, "heat_capacity_j_per_k": 1.0},
        "heaters": [
            {
                "id": name,
                "x_mm": 0.5,
                "y_mm": 0.5,
                "width_mm": 0.1,
                "height_mm": 0.1,
                "max_power_mw": 30.0,
                "pi_power_mw": 20.0,
                "waveguide_length_mm": 0.3,
            }
            for name in ("a", "b")
        ],
        "lanes": [{"id": "wl0"}],
        "sensors": [{"id": "s0", "x_mm": 0.5, "y_mm": 0.5}],
    }
    with pytest.raises(ProfileError, match="'b' has the same centre as 'a'"):
        parse_profile(data)
