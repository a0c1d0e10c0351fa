"""The simulated chip stepped and read through its settled share is the chip stepped whole.

`photon_drivers.sim.stepping` steps and reads only the slow modes and keeps the settled ones'
share; here a chip driven through powers, jittered and odd steps, a room step and a change of
plant is held, at every step, to the same physics done the plain way: every mode by
`RCNetwork.advance_modes`, every sensor through the whole readout.
"""

from __future__ import annotations

import numpy as np

from photon_drivers import ManualClock, load_profile
from photon_drivers.plant.rc_network import SETTLED_RATE_STEPS
from photon_drivers.sim.driver import SimulatedChipDriver
from photon_drivers.sim.stepping import SettledShare, advance_slow, read_sensors_c


def test_a_chip_stepped_by_its_slow_modes_is_the_chip_stepped_whole() -> None:
    profile = load_profile()
    clock = ManualClock()
    sim = SimulatedChipDriver(profile, clock, seed=3, noise_scale=0.0)
    plant = sim._plant
    reference = np.zeros(plant.network.node_count)
    rng = np.random.default_rng(11)
    heater_ids = [h.id for h in profile.heaters]
    max_mw = np.array([h.max_power_mw for h in profile.heaters])
    worst_k = 0.0
    for k in range(1500):
        if k % 150 == 0:
            powers_mw = rng.uniform(0.0, 1.0, len(heater_ids)) * max_mw * (rng.uniform() < 0.7)
            sim.set_heater_powers(dict(zip(heater_ids, powers_mw.tolist(), strict=True)))
        if k == 600:
            sim.step_ambient(1.5)
        if k == 1000:  # another plant: its own modes, rates and readout
            sim.degrade_cooling(1.5)
            reference = sim._plant.network.to_modes(plant.network.from_modes(reference))
            plant = sim._plant
        # Loop periods with jitter, and the odd short, long and empty step.
        dt_s = float(rng.choice([0.01 + rng.uniform(0.0, 2e-4), 0.001, 0.0, 0.4, 0.003]))
        clock.advance(dt_s)
        sim.read_sensors()  # steps the chip to now through its settled share
        if dt_s > 0:
            offset_c = sim._faults.ambient.offset_at_c(sim._time_s)
            modal_w = (
                plant.heater_to_modes @ np.asarray(powers_mw) + plant.ambient_to_modes * offset_c
            )
            reference = plant.network.advance_modes(reference, modal_w, dt_s)
        top_c = profile.ambient_c + (plant.top_from_modes @ reference)
        worst_k = max(worst_k, float(np.abs(sim.true_temperatures_c().ravel() - top_c).max()))
    assert worst_k < 1e-9


def test_a_share_holds_for_its_own_input_at_steps_shorter_than_twice_its_own() -> None:
    rates = np.array([1.0, 10.0, 1e3, 1e4, 1e5])
    readout = np.arange(10.0).reshape(2, 5)
    modes = np.zeros(5)
    modal_input = np.ones(5)
    share = SettledShare(modes, modal_input, rates, readout, 0.01)
    assert share.slow == int(np.sum(rates * 0.01 < SETTLED_RATE_STEPS))
    np.testing.assert_array_equal(modes[share.slow :], 1.0 / rates[share.slow :])
    np.testing.assert_allclose(
        share.sensor_rise_k, readout[:, share.slow :] @ (1.0 / rates[share.slow :])
    )
    # A settled mode stays at input/λ under that input, however short the step.
    assert share.holds_for(modal_input, 0.0001)
    assert share.holds_for(modal_input, 0.0199)
    assert not share.holds_for(modal_input, 0.02)  # fewer slow modes now: built anew
    assert not share.holds_for(modal_input.copy(), 0.01)  # another input, however equal


def test_the_kernels_step_and_read_as_numpy_does() -> None:
    rng = np.random.default_rng(5)
    rates = np.sort(rng.uniform(0.1, 1e4, 40))
    modes, modal_input = rng.normal(size=40), rng.normal(size=40)
    expected = modes.copy()
    expected[:25] = (
        np.exp(-rates[:25] * 0.01) * modes[:25]
        + (-np.expm1(-rates[:25] * 0.01) / rates[:25]) * modal_input[:25]
    )
    advance_slow(modes, modal_input, rates, 0.01, 25)
    np.testing.assert_allclose(modes, expected, rtol=1e-14)

    readout = rng.normal(size=(4, 25))
    settled = rng.normal(size=4)
    normals, noise, resolution = rng.normal(size=4), np.full(4, 0.02), np.full(4, 0.01)
    # Sensor 3 was read 5 ms ago and samples every 10 ms: it reads its last value again.
    min_period_s = np.array([0.0, 0.0, 0.0, 0.01])
    last_read_s, last_read_c = np.array([-np.inf, -np.inf, 0.995, 0.995]), np.full(4, 7.0)
    read_c = read_sensors_c(
        readout,
        modes,
        settled,
        25.0,
        normals,
        noise,
        resolution,
        1.0,
        min_period_s,
        last_read_s,
        last_read_c,
    )
    noisy_c = 25.0 + readout @ modes[:25] + settled + normals * noise
    expected_c = np.round(noisy_c / resolution) * resolution
    expected_c[3] = 7.0
    np.testing.assert_allclose(read_c, expected_c, atol=1e-12)
    np.testing.assert_array_equal(last_read_s, [1.0, 1.0, 1.0, 0.995])
    np.testing.assert_allclose(last_read_c, expected_c, atol=1e-12)
    assert read_c is not last_read_c


def test_a_read_right_after_a_change_of_plant_reads_the_new_plant() -> None:
    # No step between the change and the read: the share kept belongs to the old plant.
    profile = load_profile()
    clock = ManualClock()
    sim = SimulatedChipDriver(profile, clock, seed=3, noise_scale=0.0)
    sim.set_heater_powers({h.id: h.max_power_mw for h in profile.heaters})
    for _ in range(100):  # a loop's steps, with no read (a read now would be held below)
        clock.advance(0.01)
        sim.ambient_c()
    sim.degrade_cooling(2.0)  # a change of plant with no step after it
    read_c = np.array(sim.read_sensors().temperature_c)
    plant = sim._plant
    true_c = profile.ambient_c + plant.sensor_from_modes @ sim._modes
    resolution_c = np.array([s.resolution_c for s in profile.sensors])
    assert np.all(np.abs(read_c - true_c) <= resolution_c / 2 + 1e-9)
