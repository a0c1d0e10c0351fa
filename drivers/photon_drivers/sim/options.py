"""The simulated chip's config options, and the disturbances they schedule at a device time.

A daemon's config file can thereby start a device that will misbehave on cue, so that an
integration test or a demo exercises the closed loop through the real process:

    [[devices]]
    id = "sim0"
    driver = "sim"
    options = { seed = "1", ambient_step_c = "10", ambient_step_at_s = "2.0" }

Options (all strings, as config options are):

    profile               path to a TOML profile (default: the shipped one)
    seed                  integer seed of the sensor noise
    noise_scale           multiply every sensor's noise (>= 0), e.g. "5"
    plant_mismatch        the plant's conductances are (1 + m) x the profile's, -0.5 < m < 1:
                          the physics the daemon's model was not told about
    ambient_step_c        the room's temperature jumps by this (°C) at ambient_step_at_s
    ambient_drift_c_per_s the room drifts at this rate from ambient_step_at_s on
    cooling_factor        every resistance to ambient x this (>= 1) at cooling_at_s
    stuck_sensor, dead_sensor, nan_sensor
                          a sensor id (or "s05@2.5": the fault starts at 2.5 s)
    heater_stuck_on       "h33:25" (that heater draws 25 mW whatever is commanded), several
                          comma-separated, "all:30" for every heater; "@t" delays it
    powers_hang_s         "8" (or "8@2.5": not before 2.5 s): the first set_heater_powers
                          call blocks its caller for 8 wall seconds before the powers apply,
                          as firmware that stops answering for a while would; the caller is
                          the device loop, so its heartbeat goes stale (the systemd watchdog)

Times (`*_at_s`, `@t`) are device seconds since the driver opened; default 0. Unknown options,
and values that do not parse, raise ValueError naming the option.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from photon_drivers.profile import DeviceProfile
from photon_drivers.sim.faults import SensorFailure


class FaultTarget(Protocol):
    """What a disturbance changes on the simulated chip (its driver, with its lock held)."""

    @property
    def profile(self) -> DeviceProfile: ...

    def step_ambient_locked(self, delta_c: float) -> None: ...

    def drift_ambient_locked(self, rate_c_per_s: float) -> None: ...

    def degrade_cooling_locked(self, factor: float) -> None: ...

    def fail_sensor_locked(self, sensor_id: str, failure: SensorFailure) -> None: ...

    def stick_heater_locked(self, heater_id: str, power_mw: float | None) -> None: ...


KNOWN_OPTIONS = (
    "profile",
    "seed",
    "noise_scale",
    "plant_mismatch",
    "ambient_step_c",
    "ambient_step_at_s",
    "ambient_drift_c_per_s",
    "cooling_factor",
    "cooling_at_s",
    "stuck_sensor",
    "dead_sensor",
    "nan_sensor",
    "heater_stuck_on",
    "powers_hang_s",
)
_SENSOR_FAULTS = {
    "stuck_sensor": SensorFailure.STUCK,
    "dead_sensor": SensorFailure.DEAD,
    "nan_sensor": SensorFailure.NAN,
}


@dataclass(frozen=True)
class Disturbance:
    """One change to the simulated chip, applied when device time reaches `at_s`.

    `apply` is called with the driver's lock held and its physics caught up to `at_s`.
    """

    at_s: float
    what: str
    apply: Callable[[FaultTarget], None]


@dataclass(frozen=True)
class SimOptions:
    profile: str | None = None
    seed: int = 0
    noise_scale: float = 1.0
    plant_mismatch: float = 0.0
    disturbances: tuple[Disturbance, ...] = field(default_factory=tuple)
    # (wall seconds the first set_heater_powers blocks, device time from which it may), or None.
    powers_hang: tuple[float, float] | None = None


def parse_sim_options(options: Mapping[str, str]) -> SimOptions:
    """Check every option and turn the timed ones into scheduled `Disturbance`s.

    Raises:
        ValueError: an unknown option, or a value that does not parse or is out of range.
    """
    unknown = sorted(set(options) - set(KNOWN_OPTIONS))
    if unknown:
        raise ValueError(
            f"sim driver: unknown option(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(KNOWN_OPTIONS)}"
        )
    seed = int(_number(options, "seed", 0.0, lambda v: v == int(v), "an integer"))
    noise = _number(options, "noise_scale", 1.0, lambda v: v >= 0, ">= 0")
    mismatch = _number(options, "plant_mismatch", 0.0, lambda v: -0.5 < v < 1, "in (-0.5, 1)")
    events: list[Disturbance] = []
    step_at = _number(options, "ambient_step_at_s", 0.0, lambda v: v >= 0, ">= 0")
    if "ambient_step_c" in options:
        step = _number(options, "ambient_step_c", 0.0, lambda v: True, "a number")
        events.append(
            Disturbance(step_at, f"ambient {step:+g} °C", lambda d: d.step_ambient_locked(step))
        )
    if "ambient_drift_c_per_s" in options:
        rate = _number(options, "ambient_drift_c_per_s", 0.0, lambda v: True, "a number")
        events.append(
            Disturbance(step_at, f"drift {rate:g} °C/s", lambda d: d.drift_ambient_locked(rate))
        )
    if "cooling_factor" in options:
        factor = _number(options, "cooling_factor", 1.0, lambda v: v >= 1, ">= 1")
        at_s = _number(options, "cooling_at_s", 0.0, lambda v: v >= 0, ">= 0")
        events.append(
            Disturbance(at_s, f"cooling x{factor:g}", lambda d: d.degrade_cooling_locked(factor))
        )
    for name, failure in _SENSOR_FAULTS.items():
        if name in options:
            sensor_id, at_s = _timed(options, name)
            events.append(
                Disturbance(at_s, f"{sensor_id} {failure.value}", _fail(sensor_id, failure))
            )
    if "heater_stuck_on" in options:
        for item in options["heater_stuck_on"].split(","):
            spec, at_s = _split_time(item.strip(), "heater_stuck_on")
            heater_id, sep, power = spec.partition(":")
            try:
                power_mw = float(power)
            except ValueError:
                power_mw = math.nan
            if not sep or not heater_id or not (math.isfinite(power_mw) and power_mw >= 0):
                raise ValueError(
                    f"sim driver: option 'heater_stuck_on' wants HEATER:MW[@S], got {item!r}"
                )
            events.append(Disturbance(at_s, f"{spec} mW stuck", _stick(heater_id, power_mw)))
    events.sort(key=lambda e: e.at_s)
    hang = None
    if "powers_hang_s" in options:
        text, at_s = _timed(options, "powers_hang_s")
        try:
            hang_s = float(text)
        except ValueError:
            hang_s = math.nan
        if not (math.isfinite(hang_s) and hang_s > 0):
            raise ValueError(
                f"sim driver: option 'powers_hang_s' wants SECONDS[@S] with SECONDS > 0, "
                f"got {options['powers_hang_s']!r}"
            )
        hang = (hang_s, at_s)
    return SimOptions(options.get("profile"), seed, noise, mismatch, tuple(events), hang)


def _fail(sensor_id: str, failure: SensorFailure) -> Callable[[FaultTarget], None]:
    return lambda d: d.fail_sensor_locked(sensor_id, failure)


def _stick(heater_id: str, power_mw: float) -> Callable[[FaultTarget], None]:
    def apply(d: FaultTarget) -> None:
        ids = d.profile.heaters if heater_id == "all" else [d.profile.heater(heater_id)]
        for heater in ids:
            d.stick_heater_locked(heater.id, power_mw)

    return apply


def _number(
    options: Mapping[str, str],
    name: str,
    default: float,
    valid: Callable[[float], bool],
    wanted: str,
) -> float:
    if name not in options:
        return default
    try:
        value = float(options[name])
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and valid(value)):
        raise ValueError(f"sim driver: option {name!r} must be {wanted}, got {options[name]!r}")
    return value


def _timed(options: Mapping[str, str], name: str) -> tuple[str, float]:
    return _split_time(options[name].strip(), name)


def _split_time(text: str, name: str) -> tuple[str, float]:
    value, sep, at = text.partition("@")
    try:
        at_s = float(at) if sep else 0.0
    except ValueError:
        at_s = math.nan
    if not value or not (math.isfinite(at_s) and at_s >= 0):
        raise ValueError(f"sim driver: option {name!r} wants VALUE[@SECONDS], got {text!r}")
    return value, at_s
