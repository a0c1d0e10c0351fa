"""A conformance kit for drivers: one function every Driver implementation must pass.

Like trio's `check_streams`, it tests the contract, not an implementation: the simulated chip,
the serial driver against the emulator and a driver for real hardware all run the same checks,
so the daemon can rely on the contract alone. Each check opens a fresh driver from
`make_driver` and closes it. The checks take well under a second of device time and never
heat a heater above half its maximum, so they are safe to run against a real chip.

    from photon_drivers.testing import check_driver
    check_driver(lambda: SimulatedChipDriver.open({}, ScaledClock()))
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from photon_drivers.interface import Driver, SensorSample

__all__ = ["DriverConformanceError", "check_driver"]

_CONCURRENT_THREADS = 4
_READS_PER_THREAD = 5


class DriverConformanceError(AssertionError):
    """A driver broke the contract; the message says which promise."""


def check_driver(make_driver: Callable[[], Driver]) -> None:
    """Run every check against fresh drivers from `make_driver`.

    Raises:
        DriverConformanceError: the first broken promise.
    """
    for check in _CHECKS:
        driver = make_driver()
        try:
            check(driver)
        finally:
            driver.close()


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise DriverConformanceError(message)


def _check_sample(driver: Driver, sample: SensorSample) -> None:
    count = len(driver.profile.sensors)
    _expect(isinstance(sample, SensorSample), f"read_sensors returned {sample!r}")
    _expect(len(sample.temperature_c) == count, f"expected {count} readings in profile order")
    for t in sample.temperature_c:
        _expect(isinstance(t, float), f"reading {t!r} is not a float")
        _expect(math.isnan(t) or -273.15 < t < 1000.0, f"reading {t} °C is not a temperature")


def check_describes(driver: Driver) -> None:
    """A profile with heaters and sensors; a clock that does not run backwards."""
    profile = driver.profile
    _expect(bool(profile.heaters) and bool(profile.sensors), "profile needs heaters and sensors")
    first_s = driver.clock.now_s()
    _expect(driver.clock.now_s() >= first_s, "the clock ran backwards")


def check_reads(driver: Driver) -> None:
    """Each sample is stamped between the clock before and after the call, in order."""
    last_s = -math.inf
    for _ in range(5):
        before_s = driver.clock.now_s()
        sample = driver.read_sensors()
        after_s = driver.clock.now_s()
        _check_sample(driver, sample)
        _expect(
            before_s <= sample.device_time_s <= after_s,
            f"sample stamped {sample.device_time_s} s, outside the call [{before_s}, {after_s}]",
        )
        _expect(sample.device_time_s >= last_s, "sample times went backwards")
        last_s = sample.device_time_s


def check_applies_powers(driver: Driver) -> None:
    """Valid complete sets are taken: one heater, the boundaries, and the empty set."""
    heater = driver.profile.heaters[0]
    driver.set_heater_powers({heater.id: heater.max_power_mw / 2})
    driver.set_heater_powers({heater.id: 0.0})
    driver.set_heater_powers({h.id: h.max_power_mw / 4 for h in driver.profile.heaters[:8]})
    driver.set_heater_powers({})
    _check_sample(driver, driver.read_sensors())


def check_rejects_bad_powers(driver: Driver) -> None:
    """Unknown heaters and powers outside [0, max] raise ValueError, and the link survives."""
    heater = driver.profile.heaters[0]
    bad: list[dict[str, float]] = [
        {"no-such-heater": 1.0},
        {heater.id: -1.0},
        {heater.id: heater.max_power_mw * 1.5},
        {heater.id: math.nan},
    ]
    for powers in bad:
        try:
            driver.set_heater_powers(powers)
        except ValueError:
            pass
        else:
            raise DriverConformanceError(f"set_heater_powers({powers}) was accepted")
    driver.ping()
    _check_sample(driver, driver.read_sensors())


def check_safe_state(driver: Driver) -> None:
    """The safe state can be entered any time, repeatedly, and the device still answers."""
    driver.safe_state()
    heater = driver.profile.heaters[0]
    driver.set_heater_powers({heater.id: heater.max_power_mw / 2})
    driver.safe_state()
    driver.safe_state()
    driver.ping()


def check_concurrent_reads(driver: Driver) -> None:
    """The control loop and RPC threads may call at once: every call still gets a whole sample."""
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(_READS_PER_THREAD):
                _check_sample(driver, driver.read_sensors())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(_CONCURRENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _expect(not errors, f"concurrent reads failed: {errors[:1]!r}")


def check_close_twice(driver: Driver) -> None:
    """close() parks and releases; a second close (the kit's own) must not raise."""
    driver.close()


_CHECKS: tuple[Callable[[Driver], None], ...] = (
    check_describes,
    check_reads,
    check_applies_powers,
    check_rejects_bad_powers,
    check_safe_state,
    check_concurrent_reads,
    check_close_twice,
)
