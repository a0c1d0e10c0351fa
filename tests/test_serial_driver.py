"""The serial driver against the in-process emulator, over a real pty and a real TCP socket."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from photon_drivers import DriverError, ScaledClock, load_profile
from photon_drivers.serial.driver import SerialDriver
from photon_drivers.serial.emulator import Emulator, Faults
from photon_drivers.serial.link import DeviceRefused, LinkSettings, SerialLink
from photon_drivers.serial.protocol import Command

FAST = {"timeout_s": "0.05", "backoff_s": "0.005"}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(link=tmp_path / "tty", time_scale=50.0, seed=1) as running:
        yield running


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline_s = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline_s, "condition not met in time"
        time.sleep(0.01)


def open_driver(emulator: Emulator, **options: str) -> SerialDriver:
    return SerialDriver.open({"port": emulator.address, **FAST, **options}, ScaledClock())


def test_heating_shows_in_the_readings(emulator: Emulator) -> None:
    driver = open_driver(emulator)
    try:
        assert driver.model == emulator.chip.profile.model
        before = max(driver.read_sensors().temperature_c)
        driver.set_heater_powers({h.id: 30.0 for h in driver.profile.heaters})
        assert emulator.chip.total_power_mw() == pytest.approx(64 * 30.0)
        time.sleep(0.3)  # 15 s of device time at the emulator's time scale
        after = max(driver.read_sensors().temperature_c)
        driver.safe_state()
        assert emulator.chip.total_power_mw() == 0.0
    finally:
        driver.close()
    assert after > before + 1.0


def test_socket_url_reaches_the_emulator() -> None:
    with Emulator(tcp=("127.0.0.1", 0)) as emulator:
        assert emulator.address.startswith("socket://127.0.0.1:")
        driver = open_driver(emulator)
        driver.set_heater_powers({"h00": 10.0})
        assert emulator.chip.heater_powers_mw()["h00"] == 10.0
        driver.close()
        assert emulator.chip.total_power_mw() == 0.0, "close parks the device"


def test_corrupted_bytes_are_retried_and_counted(emulator: Emulator) -> None:
    emulator.faults.corrupt_fraction = 0.02
    driver = open_driver(emulator, attempts="20")
    try:
        for _ in range(100):
            assert len(driver.read_sensors().temperature_c) == 16
        counters = driver.counters()
    finally:
        driver.close()
    assert counters["corrupt_frames"] > 0 and counters["retries"] > 0
    assert counters["failed_requests"] == 0
    assert emulator.faults.stats.corrupted_bytes > 0


def test_dropped_replies_time_out_and_are_retried(emulator: Emulator) -> None:
    emulator.faults.drop_fraction = 0.3
    driver = open_driver(emulator, attempts="20")
    try:
        for _ in range(20):
            driver.ping()
        counters = driver.counters()
    finally:
        driver.close()
    assert counters["timeouts"] > 0 and counters["failed_requests"] == 0


def test_a_silent_device_fails_with_the_cause(emulator: Emulator) -> None:
    driver = open_driver(emulator, attempts="3")
    emulator.faults.delay_s = 0.5
    try:
        with pytest.raises(DriverError, match=r"READ_SENSORS failed after 3 attempt\(s\)"):
            driver.read_sensors()
        assert driver.counters()["timeouts"] == 3
        emulator.faults.delay_s = 0.0
        time.sleep(0.6)  # the late replies arrive now: none may be taken for a new one
        for _ in range(5):
            driver.ping()
            assert len(driver.read_sensors().temperature_c) == 16
    finally:
        driver.close()


def test_unplugged_port_fails_then_reconnects(emulator: Emulator) -> None:
    driver = open_driver(emulator, attempts="2")
    try:
        driver.set_heater_powers({"h00": 20.0})
        emulator.faults.disconnect_until_s = math.inf
        wait_for(lambda: emulator.faults.stats.disconnects == 1)
        with pytest.raises(DriverError):
            driver.read_sensors()
        with pytest.raises(DriverError, match="cannot open serial port"):
            driver.ping()
        emulator.faults.disconnect_until_s = time.monotonic()
        deadline_s = time.monotonic() + 10
        while True:
            try:
                driver.ping()
                break
            except DriverError:
                assert time.monotonic() < deadline_s, "did not reconnect"
                time.sleep(0.05)
        counters = driver.counters()
        assert emulator.chip.total_power_mw() == 0.0, "the replugged firmware starts parked"
    finally:
        driver.close()
    assert counters["reconnects"] == 1 and counters["link_errors"] >= 1


def test_failed_sensor_reads_nan(emulator: Emulator) -> None:
    emulator.faults.failed_sensors.add(3)
    driver = open_driver(emulator)
    try:
        readings = driver.read_sensors().temperature_c
    finally:
        driver.close()
    assert math.isnan(readings[3]) and not any(
        math.isnan(t) for i, t in enumerate(readings) if i != 3
    )


def test_error_replies_are_not_retried(emulator: Emulator) -> None:
    link = SerialLink(LinkSettings(emulator.address, timeout_s=0.05), lambda link: None)
    try:
        with pytest.raises(DeviceRefused, match="PING takes no payload"):
            link.request(Command.PING, b"unexpected")
    finally:
        link.close()
    assert link.counters.error_replies == 1 and link.counters.retries == 0


def test_a_board_that_does_not_match_the_profile_is_refused(emulator: Emulator) -> None:
    profile = load_profile()
    fewer = dataclasses.replace(profile, sensors=profile.sensors[:-1])
    settings = LinkSettings(emulator.address, timeout_s=0.05)
    with pytest.raises(DriverError, match="16 sensors; the profile expects v1, 64 heaters and 15"):
        SerialDriver(settings, fewer, ScaledClock())


def test_loop_url_opens_but_no_device_answers() -> None:
    """On loop:// the driver hears its own requests: they are not replies, so it times out."""
    with pytest.raises(DriverError, match="IDENTIFY failed after 2 attempt"):
        SerialDriver.open({"port": "loop://", "attempts": "2", **FAST}, ScaledClock())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "option 'port' is required"),
        ({"port": "loop://", "speed": "9600"}, "unknown option.*'speed'"),
        ({"port": "loop://", "baud": "fast"}, "'baud' must be a number"),
        ({"port": "loop://", "attempts": "2.5"}, "'attempts' must be an integer"),
        ({"port": "loop://", "timeout_s": "0"}, "'timeout_s' must be positive"),
    ],
)
def test_bad_options_are_named(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SerialDriver.open(options, ScaledClock())


def test_missing_port_is_a_driver_error(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="cannot open serial port"):
        SerialDriver.open({"port": str(tmp_path / "ttyNONE")}, ScaledClock())


def test_faults_are_seeded() -> None:
    a, b = Faults(corrupt_fraction=0.1, seed=5), Faults(corrupt_fraction=0.1, seed=5)
    data = bytes(range(200))
    assert a.corrupt(data) == b.corrupt(data) != data
