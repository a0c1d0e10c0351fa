"""The serial driver: a Driver that talks to chip firmware over the photon serial protocol.

The device's description comes from a profile file on the host (the firmware knows only its
counts and model name); at every (re)connect the driver asks the firmware to IDENTIFY itself
and refuses a device whose protocol version, heater count or sensor count differ from the
profile, so the wrong board on the right port cannot be driven with the wrong map.

Samples are stamped with the driver's clock when the reply arrives: the firmware keeps no
clock the daemon could schedule against, and the reply latency (see benchmarks/serial_link.py)
is far below the control period. Link counters are on `counters()` and in the
`photon_drivers.serial` log (see `serial_link`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from photon_drivers.clock import Clock
from photon_drivers.interface import Driver, DriverError, SensorSample, check_powers
from photon_drivers.profile import DeviceProfile, load_profile
from photon_drivers.serial.link import LinkSettings, SerialLink, log
from photon_drivers.serial.protocol import (
    MAX_ENCODABLE_POWER_MW,
    MAX_INDEXED_ITEMS,
    MAX_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
    Command,
    decode_identity,
    decode_temperatures,
    encode_powers,
)

_OPTIONS = {
    "port": "pyserial URL or device path: /dev/ttyUSB0, socket://host:port, loop://",
    "baud": "line rate in baud (default 115200)",
    "timeout_s": "seconds to wait for each reply (default 0.1)",
    "attempts": "tries per command before it fails (default 5)",
    "backoff_s": "first wait after a timeout, doubling up to timeout_s (default 0.01)",
    "profile": "device profile TOML (default: the shipped profile)",
}


class SerialDriver(Driver):
    """One chip behind one serial link.

    Args:
        settings: the port and the transaction rules.
        profile: what the chip is; must match the firmware's IDENTIFY reply.
        clock: the daemon's time base; samples are stamped with it on arrival.
    """

    def __init__(self, settings: LinkSettings, profile: DeviceProfile, clock: Clock) -> None:
        _check_fits_the_wire(profile)
        self._profile = profile
        self._clock = clock
        self._heater_index = {h.id: i for i, h in enumerate(profile.heaters)}
        # The control loop and RPC threads may call at once; the link runs one transaction
        # at a time, and a sample is stamped inside the same critical section.
        self._lock = threading.Lock()
        self._closed = False
        self.model = ""
        self._link = SerialLink(settings, self._identify)
        with self._lock:
            self._link.connect()

    @classmethod
    def open(cls, options: Mapping[str, str], clock: Clock) -> SerialDriver:
        """Connect from config options (see `_OPTIONS`); `port` is required.

        Raises:
            ValueError: an unknown, missing or malformed option, or a bad profile.
            DriverError: the port cannot be opened or the firmware does not identify itself.
        """
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ValueError(
                f"serial driver: unknown option(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(_OPTIONS)}"
            )
        if not options.get("port"):
            raise ValueError("serial driver: option 'port' is required (" + _OPTIONS["port"] + ")")
        settings = LinkSettings(
            url=options["port"],
            baud=_positive_int(options, "baud", 115_200),
            timeout_s=_positive(options, "timeout_s", 0.1),
            attempts=_positive_int(options, "attempts", 5),
            backoff_s=_positive(options, "backoff_s", 0.01),
        )
        return cls(settings, cls._profile_from(options), clock)

    @classmethod
    def describe(cls, options: Mapping[str, str]) -> DeviceProfile:
        """The profile file on the host: known whether or not the port answers."""
        return cls._profile_from(options)

    @staticmethod
    def _profile_from(options: Mapping[str, str]) -> DeviceProfile:
        path = options.get("profile")
        return load_profile(Path(path) if path else None)

    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    @property
    def clock(self) -> Clock:
        return self._clock

    def read_sensors(self) -> SensorSample:
        with self._lock:
            payload = self._request(Command.READ_SENSORS)
            device_time_s = self._clock.now_s()
        return SensorSample(device_time_s, decode_temperatures(payload, len(self._profile.sensors)))

    def set_heater_powers(self, powers_mw: Mapping[str, float]) -> None:
        check_powers(self._profile, powers_mw)
        payload = encode_powers({self._heater_index[h]: mw for h, mw in powers_mw.items()})
        with self._lock:
            self._request(Command.SET_POWERS, payload)

    def safe_state(self) -> None:
        with self._lock:
            self._request(Command.SAFE_STATE)

    def ping(self) -> None:
        with self._lock:
            self._request(Command.PING)

    def close(self) -> None:
        """Park the device, then release the port; a second close does nothing.

        A device that cannot be reached cannot be parked: that is logged, not raised, because
        close runs on shutdown paths that must finish.
        """
        with self._lock:
            if self._closed:
                return
            try:
                self._request(Command.SAFE_STATE)
            except DriverError as exc:
                log.error("could not park the device on close", extra={"error": str(exc)})
            self._closed = True
            self._link.close()

    def counters(self) -> dict[str, int]:
        """The link's counters (corrupt frames, timeouts, retries, reconnects, ...)."""
        with self._lock:
            return asdict(self._link.counters)

    def _request(self, command: Command, payload: bytes = b"") -> bytes:
        if self._closed:
            raise DriverError("serial driver is closed")
        return self._link.request(command, payload)

    def _identify(self, link: SerialLink) -> None:
        identity = decode_identity(link.request(Command.IDENTIFY))
        expected = (PROTOCOL_VERSION, len(self._profile.heaters), len(self._profile.sensors))
        found = (identity.protocol_version, identity.heater_count, identity.sensor_count)
        if found != expected:
            raise DriverError(
                f"serial device {identity.model!r} on {link.settings.url} is protocol "
                f"v{found[0]} with {found[1]} heaters and {found[2]} sensors; the profile "
                f"expects v{expected[0]}, {expected[1]} heaters and {expected[2]} sensors"
            )
        self.model = identity.model


def _positive(options: Mapping[str, str], key: str, default: float) -> float:
    text = options.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"serial driver: option {key!r} must be a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"serial driver: option {key!r} must be positive, got {text!r}")
    return value


def _positive_int(options: Mapping[str, str], key: str, default: int) -> int:
    value = _positive(options, key, default)
    if value != int(value):
        raise ValueError(f"serial driver: option {key!r} must be an integer, got {options[key]!r}")
    return int(value)


def _check_fits_the_wire(profile: DeviceProfile) -> None:
    """The protocol indexes heaters and sensors with one byte and sends readings in one frame."""
    if len(profile.heaters) > MAX_INDEXED_ITEMS or 2 * len(profile.sensors) > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"profile {profile.model!r}: {len(profile.heaters)} heaters / "
            f"{len(profile.sensors)} sensors exceed what one frame carries"
        )
    too_strong = [h.id for h in profile.heaters if h.max_power_mw > MAX_ENCODABLE_POWER_MW]
    if too_strong:
        raise ValueError(
            f"profile {profile.model!r}: heaters {too_strong} exceed the wire's "
            f"{MAX_ENCODABLE_POWER_MW:.2f} mW"
        )
