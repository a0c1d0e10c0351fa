"""The driver contract: what photond needs from any chip, simulated or real.

The daemon is written against this class alone; a driver is picked by name through the
`photond.drivers` entry-point group (see `registry`). The contract is deliberately small —
describe, read, apply, park, ping, close — so that a serial link to firmware and the simulated
chip can implement it alike. Powers are always the complete set: a heater not named is off,
so a lost command can never leave a heater on that the daemon believes off.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from photon_drivers.clock import Clock
from photon_drivers.profile import DeviceProfile


class DriverError(RuntimeError):
    """The device did not do what it was asked (link down, timeout, refused command)."""


@dataclass(frozen=True)
class SensorSample:
    """One reading of every sensor, in the profile's sensor order.

    A failed sensor reads NaN; deciding what to trust is the daemon's job, not the driver's.
    """

    device_time_s: float
    temperature_c: tuple[float, ...]


class Driver(abc.ABC):
    """One open connection to one device."""

    # Whether the chip behind this driver is a model that can run faster than wall time. Only
    # then may the daemon's `time_scale` differ from 1: a real chip's heat does not speed up.
    simulated: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def open(cls, options: Mapping[str, str], clock: Clock) -> Driver:
        """Connect to a device described by string options from the daemon's config.

        Raises:
            ValueError: an unknown or malformed option (the message names it).
            DriverError: the device could not be reached.
        """

    @classmethod
    def describe(cls, options: Mapping[str, str]) -> DeviceProfile | None:
        """The device's description from the options alone, or None if it needs the device.

        A driver that knows its device without reaching it (a serial chip's profile is a file
        on the host) says so here; then a device unreachable when the daemon starts is opened
        later (`registry.open_or_defer`) and the daemon starts with its breaker open instead
        of failing. None, the default, keeps `open`'s DriverError fatal at start-up.
        """
        return None

    @property
    @abc.abstractmethod
    def profile(self) -> DeviceProfile:
        """The device's description."""

    @property
    @abc.abstractmethod
    def clock(self) -> Clock:
        """The device's time base; the runtime schedules against it."""

    @abc.abstractmethod
    def read_sensors(self) -> SensorSample:
        """Read every sensor once."""

    @abc.abstractmethod
    def set_heater_powers(self, powers_mw: Mapping[str, float]) -> None:
        """Apply these powers from now on; heaters not named go to zero.

        Raises:
            ValueError: an unknown heater id, or a power outside [0, max_power_mw].
            DriverError: the device did not take the command.
        """

    @abc.abstractmethod
    def safe_state(self) -> None:
        """Turn every heater off. Must be safe to call at any time, repeatedly."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Check the device answers; raise DriverError when it does not."""

    @abc.abstractmethod
    def close(self) -> None:
        """Park the device in its safe state and release the connection."""


def check_powers(profile: DeviceProfile, powers_mw: Mapping[str, float]) -> None:
    """Reject unknown heaters and powers outside [0, max]; shared by every driver."""
    limits = {h.id: h.max_power_mw for h in profile.heaters}
    for heater_id, power_mw in powers_mw.items():
        if heater_id not in limits:
            raise ValueError(f"unknown heater {heater_id!r}")
        if not 0.0 <= power_mw <= limits[heater_id]:
            raise ValueError(
                f"heater {heater_id!r}: power {power_mw} mW outside [0, {limits[heater_id]}]"
            )
