"""What can go wrong with the simulated chip, on purpose: the faults tests and benchmarks inject.

A real lab sees sensors that stick, die or return garbage, cooling that degrades (a fan slows,
thermal paste dries), heaters stuck on by a driver fault, and a room whose temperature moves.
The simulated chip keeps these as plain state here; `SimulatedChipDriver` applies them where
the physics or the sensor path would feel them. None of it is on the Driver interface: a
real device cannot be told to break.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

# What a dead sensor reads: the bottom rail of a typical on-die sensor ADC.
DEAD_SENSOR_READING_C = -40.0


class SensorFailure(enum.Enum):
    """How a failed sensor misbehaves."""

    # Keeps returning the value it had when it failed.
    STUCK = "stuck"
    # Reads the ADC's bottom rail, a plausible-looking but wrong number.
    DEAD = "dead"
    # Returns NaN (a failed conversion the firmware reports honestly).
    NAN = "nan"


@dataclass
class SensorFault:
    failure: SensorFailure
    # Reading at the moment of failure (what a stuck sensor repeats).
    held_c: float

    def reading_c(self) -> float:
        if self.failure is SensorFailure.STUCK:
            return self.held_c
        if self.failure is SensorFailure.DEAD:
            return DEAD_SENSOR_READING_C
        return math.nan


@dataclass
class AmbientState:
    """Ambient = nominal + offset, where the offset may drift linearly with device time."""

    offset_c: float = 0.0
    drift_c_per_s: float = 0.0
    since_s: float = 0.0

    def offset_at_c(self, time_s: float) -> float:
        return self.offset_c + self.drift_c_per_s * (time_s - self.since_s)

    def rebase(self, time_s: float) -> None:
        self.offset_c = self.offset_at_c(time_s)
        self.since_s = time_s


@dataclass
class FaultState:
    """Every injected fault of one simulated chip, by sensor and heater index."""

    sensors: dict[int, SensorFault] = field(default_factory=dict)
    # Heater index -> power it draws regardless of commands, mW.
    stuck_heaters_mw: dict[int, float] = field(default_factory=dict)
    # Package-to-ambient resistance multiplier (1 = as specified, 2 = half the cooling).
    cooling_factor: float = 1.0
    ambient: AmbientState = field(default_factory=AmbientState)
