"""Faults injected into the simulated chip behave like their physical counterparts."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from photon_drivers.clock import ManualClock
from photon_drivers.plant.chip import chip_network
from photon_drivers.sim.driver import SimulatedChipDriver
from photon_drivers.sim.faults import DEAD_SENSOR_READING_C, SensorFailure

SETTLE_S = 120.0  # ~19 package time constants: steady for every purpose here


def chip() -> tuple[SimulatedChipDriver, ManualClock]:
    clock = ManualClock()
    return SimulatedChipDriver(clock=clock, seed=1), clock


def settled_mean_c(driver: SimulatedChipDriver, clock: ManualClock) -> float:
    clock.advance(SETTLE_S)
    return float(np.mean(driver.true_temperatures_c()))


def test_stuck_sensor_repeats_its_last_value_while_the_chip_heats() -> None:
    driver, clock = chip()
    driver.fail_sensor("s11", SensorFailure.STUCK)
    driver.set_heater_powers(dict.fromkeys([h.id for h in driver.profile.heaters], 20.0))
    clock.advance(SETTLE_S)
    sample = driver.read_sensors()
    index = [s.id for s in driver.profile.sensors].index("s11")
    assert sample.temperature_c[index] == pytest.approx(25.0, abs=0.01)
    others = [t for i, t in enumerate(sample.temperature_c) if i != index]
    assert min(others) > 80.0, "the other sensors see the chip heat up"


def test_dead_and_nan_sensors() -> None:
    driver, clock = chip()
    driver.fail_sensor("s00", SensorFailure.DEAD)
    driver.fail_sensor("s01", SensorFailure.NAN)
    clock.advance(0.01)
    sample = driver.read_sensors()
    assert sample.temperature_c[0] == DEAD_SENSOR_READING_C
    assert math.isnan(sample.temperature_c[1])
    driver.repair_sensor("s01")
    clock.advance(0.01)
    assert not math.isnan(driver.read_sensors().temperature_c[1])


def test_degraded_cooling_raises_the_steady_rise_by_the_package_share() -> None:
    powers = {h.id: 10.0 for h in list(chip()[0].profile.heaters)[:16]}
    healthy, clock_a = chip()
    healthy.set_heater_powers(powers)
    degraded, clock_b = chip()
    degraded.degrade_cooling(2.0)
    degraded.set_heater_powers(powers)
    rise_healthy = settled_mean_c(healthy, clock_a) - 25.0
    rise_degraded = settled_mean_c(degraded, clock_b) - 25.0
    # Nearly all of the 50 K/W is the package: doubling it nearly doubles the rise.
    assert 1.9 < rise_degraded / rise_healthy < 2.0


def test_stuck_heater_keeps_heating_through_safe_state() -> None:
    driver, clock = chip()
    driver.stick_heater("h44", 30.0)
    driver.safe_state()
    rise_c = settled_mean_c(driver, clock) - 25.0
    assert rise_c == pytest.approx(0.030 * 50.0, rel=0.05)
    driver.stick_heater("h44", None)
    assert settled_mean_c(driver, clock) == pytest.approx(25.0, abs=0.01)


def test_ambient_step_reaches_the_die_through_the_package() -> None:
    driver, clock = chip()
    driver.step_ambient(5.0)
    clock.advance(0.5)
    early_c = float(np.mean(driver.true_temperatures_c()))
    assert 25.0 < early_c < 30.0, "the package takes time to follow the room"
    assert settled_mean_c(driver, clock) == pytest.approx(30.0, abs=0.01)


def test_ambient_drift_is_followed_with_the_package_lag() -> None:
    driver, clock = chip()
    driver.set_ambient_drift(0.01)  # 1 K per 100 s
    clock.advance(600.0)
    mean_c = float(np.mean(driver.true_temperatures_c()))
    # A lag behind a ramp trails it by rate x the package's time constant (several seconds).
    lag_c = 25.0 + 6.0 - mean_c
    slowest_s = driver_slowest_time_constant_s(driver)
    assert 0.01 * 0.5 * slowest_s < lag_c < 0.01 * 2.0 * slowest_s


def driver_slowest_time_constant_s(driver: SimulatedChipDriver) -> float:
    return float(chip_network(driver.profile).network.time_constants_s[0])


def test_sensors_cannot_be_sampled_faster_than_their_floor() -> None:
    driver, clock = chip()
    driver.set_heater_powers({"h00": 30.0})
    clock.advance(0.01)
    first = driver.read_sensors().temperature_c
    clock.advance(0.0002)  # below the 1 ms floor
    assert driver.read_sensors().temperature_c == first
    clock.advance(0.002)
    assert driver.read_sensors().temperature_c != first


def test_fault_arguments_are_checked() -> None:
    driver, _ = chip()
    with pytest.raises(ValueError, match="unknown sensor"):
        driver.fail_sensor("nope", SensorFailure.NAN)
    with pytest.raises(ValueError, match=">= 1"):
        driver.degrade_cooling(0.5)
    with pytest.raises(ValueError, match="unknown heater"):
        driver.stick_heater("nope", 1.0)


def test_powers_hang_blocks_the_first_power_command_once_from_its_time() -> None:
    clock = ManualClock()
    driver = SimulatedChipDriver.open({"powers_hang_s": "1.5@1.0"}, clock)
    started = time.monotonic()
    driver.set_heater_powers({"h00": 5.0})  # before 1.0 s of device time: no hang
    assert time.monotonic() - started < 1.0
    clock.advance(1.0)
    started = time.monotonic()
    driver.set_heater_powers({"h00": 6.0})
    assert time.monotonic() - started > 1.4  # a lower bound: sleeping is never shorter
    assert driver.heater_powers_mw()["h00"] == 6.0
    started = time.monotonic()
    driver.set_heater_powers({"h00": 7.0})  # once only
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("value", ["0", "-1", "x", "1@-2", "nan"])
def test_powers_hang_refuses_bad_values_by_name(value: str) -> None:
    with pytest.raises(ValueError, match="powers_hang_s"):
        SimulatedChipDriver.open({"powers_hang_s": value}, ManualClock())
