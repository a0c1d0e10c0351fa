"""A driver whose device could not be reached when it was opened: it opens on a later call.

A lab machine boots with a board unplugged, or its USB adapter enumerates after photond
starts. The daemon should still start, serve its other devices and report this one with its
breaker open; the breaker's probes (ping, then safe state) are what open the real driver once
the device answers. Only a driver that can describe its device without it (`Driver.describe`)
is deferred, so the daemon plans against the same profile the real driver will have.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from photon_drivers.clock import Clock
from photon_drivers.interface import Driver, SensorSample
from photon_drivers.profile import DeviceProfile


class DeferredDriver(Driver):
    """Stands for `driver_class.open(options, clock)` until that succeeds.

    Every call first opens the real driver if it is not open yet; a failed open raises its
    DriverError from that call, as an unplugged device's driver would.
    """

    def __init__(
        self,
        driver_class: type[Driver],
        options: Mapping[str, str],
        clock: Clock,
        profile: DeviceProfile,
    ) -> None:
        self._class = driver_class
        self._options = dict(options)
        self._clock = clock
        self._profile = profile
        self._lock = threading.Lock()
        self._inner: Driver | None = None

    @classmethod
    def open(cls, options: Mapping[str, str], clock: Clock) -> Driver:
        raise TypeError("a DeferredDriver is made by photon_drivers.registry.open_or_defer")

    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def opened(self) -> bool:
        return self._inner is not None

    def _driver(self) -> Driver:
        with self._lock:
            if self._inner is None:
                self._inner = self._class.open(self._options, self._clock)
            return self._inner

    def read_sensors(self) -> SensorSample:
        return self._driver().read_sensors()

    def set_heater_powers(self, powers_mw: Mapping[str, float]) -> None:
        self._driver().set_heater_powers(powers_mw)

    def safe_state(self) -> None:
        self._driver().safe_state()

    def ping(self) -> None:
        self._driver().ping()

    def close(self) -> None:
        """Close the real driver if it was ever opened; a device never reached has nothing
        to release (and nothing of ours to park)."""
        with self._lock:
            inner, self._inner = self._inner, None
        if inner is not None:
            inner.close()
