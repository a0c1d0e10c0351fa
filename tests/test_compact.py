"""The compact model agrees with the plant it is derived from, and predicts by superposition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from photon_drivers import load_profile
from photon_drivers.plant.chip import chip_network
from photon_drivers.plant.rc_network import ChipNetwork, FloatArray
from photon_drivers.profile import DeviceProfile
from photond.model.compact import CompactModel
from photond.model.network import model_grid
from photond.model.zones import zone_schedule_to_heaters, zone_to_heater_matrix

FAST = settings(max_examples=25, deadline=None, derandomize=True)
# The error the docs state for the default profile, rounded up: steady state is exact to
# rounding (residualised DC gain); transients are off by the discarded modes' decay.
STEADY_ERROR_K = 1e-6
TRANSIENT_ERROR_K = 1e-3


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    return load_profile()


@pytest.fixture(scope="module")
def chip(profile: DeviceProfile) -> ChipNetwork:
    """The network the model is reduced from (the plant's case on the model's coarser grid)."""
    return chip_network(profile, *model_grid(profile))


@pytest.fixture(scope="module")
def model(profile: DeviceProfile) -> CompactModel:
    return CompactModel.from_profile(profile)


def plant_trace_c(
    profile: DeviceProfile, chip: ChipNetwork, schedule_mw: FloatArray, dt_s: float
) -> FloatArray:
    rise = np.zeros(chip.network.node_count)
    rows = []
    for p in schedule_mw:
        rise = chip.network.advance(rise, chip.heater_injection @ (p * 1e-3), dt_s)
        rows.append(profile.ambient_c + chip.sensor_weights @ rise)
    return np.array(rows)


@pytest.mark.parametrize("pattern", ["one", "all", "checkerboard"])
def test_steady_state_equals_plant(
    profile: DeviceProfile, chip: ChipNetwork, model: CompactModel, pattern: str
) -> None:
    p = np.zeros(len(profile.heaters))
    if pattern == "one":
        p[27] = 20.0
    elif pattern == "all":
        p[:] = 20.0
    else:
        p[::2] = 30.0
    plant_c = profile.ambient_c + chip.sensor_weights @ chip.network.steady_state_rise_k(
        chip.heater_injection @ (p * 1e-3)
    )
    assert model.steady_state_c(p) == pytest.approx(plant_c, abs=STEADY_ERROR_K)


def test_all_heaters_at_pi_power_cross_the_limit(
    profile: DeviceProfile, model: CompactModel
) -> None:
    p = np.array([h.pi_power_mw for h in profile.heaters])
    assert model.steady_state_c(p).max() > profile.limits.max_device_temperature_c


def test_transient_matches_plant(
    profile: DeviceProfile, chip: ChipNetwork, model: CompactModel
) -> None:
    rng = np.random.default_rng(3)
    schedule = rng.uniform(0.0, 30.0, (120, len(profile.heaters)))
    expected = plant_trace_c(profile, chip, schedule, model.dt_s)
    assert model.simulate(schedule) == pytest.approx(expected, abs=TRANSIENT_ERROR_K)


@FAST
@given(
    hnp.arrays(np.float64, (12, 8), elements=st.floats(0.0, 160.0)),
)
def test_step_responses_superpose_to_simulate(model: CompactModel, zone_mw: FloatArray) -> None:
    steps = zone_mw.shape[0]
    response = model.step_response(steps, space="zones")  # (steps, sensors, zones)
    increments = np.diff(zone_mw, axis=0, prepend=0.0)
    predicted = model.ambient_c + np.array(
        [sum(response[k - j] @ increments[j] for j in range(k + 1)) for k in range(steps)]
    )
    assert predicted == pytest.approx(model.simulate(zone_mw, space="zones"), abs=1e-9)


def test_simulate_settles_at_steady_state(model: CompactModel) -> None:
    p = np.full(len(model.heater_ids), 10.0)
    steps = int(30 * model.time_constants_s[0] / model.dt_s)  # e^-30 of the slowest mode left
    trace = model.simulate(np.tile(p, (steps, 1)))
    assert trace[-1] == pytest.approx(model.steady_state_c(p), abs=1e-9)


def test_advance_and_read_match_simulate(model: CompactModel) -> None:
    rng = np.random.default_rng(0)
    schedule = rng.uniform(0.0, 20.0, (5, len(model.heater_ids)))
    state = model.steady_state(np.full(len(model.heater_ids), 5.0))
    trace = model.simulate(schedule, state, at="heaters")
    for k, p in enumerate(schedule):
        state = model.advance(state, p)
        assert model.read_c(state, "heaters") == pytest.approx(trace[k], abs=1e-12)


def test_plant_state_projects_onto_model_state(chip: ChipNetwork, model: CompactModel) -> None:
    p = np.linspace(0.0, 30.0, len(model.heater_ids))
    rise = chip.network.steady_state_rise_k(chip.heater_injection @ (p * 1e-3))
    projected = model.state_from_node_rise(rise, p)
    # abs: modes the symmetric pattern leaves at zero come out at the rounding of a 1,548-term
    # sum over the plant's modes (~1e-12 against states of ~20).
    assert projected.x == pytest.approx(model.steady_state(p).x, rel=1e-7, abs=1e-10)


def test_zone_power_splits_evenly_among_its_heaters(profile: DeviceProfile) -> None:
    z = zone_to_heater_matrix(profile)
    assert z.sum(axis=0) == pytest.approx(np.ones(len(profile.zones)))
    heaters = zone_schedule_to_heaters(profile, np.eye(len(profile.zones))[0] * 80.0)
    ids = [h.id for h in profile.heaters]
    for heater_id in profile.zones[0].heater_ids:
        assert heaters[ids.index(heater_id)] == pytest.approx(10.0)
    assert heaters.sum() == pytest.approx(80.0)


def test_time_constants_come_from_the_network(chip: ChipNetwork, model: CompactModel) -> None:
    assert model.time_constants_s == pytest.approx(chip.network.time_constants_s[:16])


@pytest.mark.parametrize("modes", [0, 10_000])
def test_modes_out_of_range_is_rejected(profile: DeviceProfile, modes: int) -> None:
    with pytest.raises(ValueError, match="modes"):
        CompactModel.from_profile(profile, modes=modes)


def test_the_limit_points_are_every_footprint_then_every_sensor(model: CompactModel) -> None:
    power = np.linspace(0.0, 20.0, len(model.heater_ids))
    state = model.steady_state(power)
    limits_c = model.read_c(state, "limits")
    heaters = len(model.heater_ids)
    np.testing.assert_array_equal(limits_c[:heaters], model.read_c(state, "heaters"))
    np.testing.assert_array_equal(limits_c[heaters:], model.read_c(state, "sensors"))
