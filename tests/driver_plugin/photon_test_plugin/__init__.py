"""A third-party driver for tests: every sensor reads ambient plus the power applied.

It is written against the public contract only (`photon_drivers.interface`), so that passing
the conformance kit proves the contract is enough to write a driver outside this repository.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from photon_drivers.clock import Clock
from photon_drivers.interface import Driver, SensorSample, check_powers
from photon_drivers.profile import DeviceProfile, load_profile

# Kelvin of rise per milliwatt applied: a crude, constant "chip".
RISE_K_PER_MW = 0.01


class ConstantDriver(Driver):
    def __init__(self, profile: DeviceProfile, clock: Clock) -> None:
        self._profile = profile
        self._clock = clock
        self._lock = threading.Lock()
        self._total_mw = 0.0

    @classmethod
    def open(cls, options: Mapping[str, str], clock: Clock) -> ConstantDriver:
        if options:
            raise ValueError(f"test-constant driver takes no options, got {sorted(options)}")
        return cls(load_profile(), clock)

    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    @property
    def clock(self) -> Clock:
        return self._clock

    def read_sensors(self) -> SensorSample:
        with self._lock:
            reading_c = self._profile.ambient_c + RISE_K_PER_MW * self._total_mw
            return SensorSample(self._clock.now_s(), (reading_c,) * len(self._profile.sensors))

    def set_heater_powers(self, powers_mw: Mapping[str, float]) -> None:
        check_powers(self._profile, powers_mw)
        with self._lock:
            self._total_mw = sum(powers_mw.values())

    def safe_state(self) -> None:
        with self._lock:
            self._total_mw = 0.0

    def ping(self) -> None:
        pass

    def close(self) -> None:
        self.safe_state()
