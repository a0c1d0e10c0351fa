"""A device unreachable when it is opened: a deferred driver that opens once the device answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from photon_drivers import DriverError, ScaledClock, load_profile
from photon_drivers.deferred import DeferredDriver
from photon_drivers.registry import open_or_defer
from photon_drivers.serial.emulator import Emulator

FAST = {"timeout_s": "0.05", "backoff_s": "0.005"}


def opened(driver: DeferredDriver) -> bool:
    return driver.opened


def test_a_serial_port_that_is_not_there_yet_is_opened_when_it_appears(tmp_path: Path) -> None:
    link = tmp_path / "ttyLATE"
    driver, error = open_or_defer("serial", {"port": str(link), **FAST}, ScaledClock())
    assert isinstance(driver, DeferredDriver) and not opened(driver)
    assert error is not None and "cannot open serial port" in str(error)
    assert driver.profile == load_profile()  # the profile file on the host, known already
    with pytest.raises(DriverError, match="cannot open serial port"):
        driver.ping()
    with pytest.raises(DriverError, match="cannot open serial port"):
        driver.read_sensors()
    driver.close()  # nothing was opened: nothing to release, no error
    with Emulator(link=link, time_scale=50.0, seed=1):
        driver.ping()
        assert opened(driver)
        assert len(driver.read_sensors().temperature_c) == len(driver.profile.sensors)
        driver.set_heater_powers({"h00": 5.0})
        driver.close()


def test_a_reachable_device_is_opened_at_once(tmp_path: Path) -> None:
    with Emulator(link=tmp_path / "tty", time_scale=50.0, seed=1) as emulator:
        driver, error = open_or_defer("serial", {"port": emulator.address, **FAST}, ScaledClock())
        assert error is None and not isinstance(driver, DeferredDriver)
        driver.close()


def test_bad_options_still_fail_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'baud' must be a number"):
        open_or_defer("serial", {"port": str(tmp_path / "x"), "baud": "fast"}, ScaledClock())
