"""The hard interlock: too hot, or an operator's emergency stop, parks the device at once.

Independent of the optimizer and of the observer's judgement on purpose: it looks at the
sensors itself. A reading counts when it is a finite number in a physically possible range
(above -50 °C, below 250 °C: what no silicon sensor reads on a working die) and the observer
does not distrust that sensor; every other sensor contributes the observer's estimate instead,
when there is one. So a dead sensor cannot hide heat (its estimate stands in), and a sensor
stuck at a hot value still trips only if the estimate agrees.

Semantics (chosen for a lab: a trip is usually a transient — a fan, a door — and the work is
worth keeping):
- **Trip** when the hottest counted temperature exceeds `interlock_temperature_c`: the runtime
  puts the device in its safe state in the same pass, stops dispatch, and *holds* the running
  job (a `held` event with the reason). Tasks cut off by the hold run again from their start.
- **Clear** only when the hottest counted temperature is below interlock - hysteresis; the job
  then resumes (a `resumed` event) with its remaining tasks re-planned from the current state.
- A job held longer than `hold_timeout_s` of device time fails with the trip's reason.
- An **emergency stop** (the EmergencyStop RPC) holds the same way until `Resume`, and the
  temperature rule still applies after Resume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from photon_drivers.profile import LimitsSpec
from photond.model.loop_model import Estimate

# Readings outside this range are not temperatures of a working die (see the docstring).
PLAUSIBLE_C = (-50.0, 250.0)


@dataclass(frozen=True)
class Trip:
    """Why the device is held: the reason a person reads, and the temperature that did it."""

    reason: str
    temperature_c: float


class Interlock:
    """Tracks the trip state of one device from its samples; see the module docstring."""

    def __init__(self, limits: LimitsSpec, sensor_ids: Sequence[str]) -> None:
        self.trip_c = limits.interlock_temperature_c
        self.clear_c = limits.interlock_temperature_c - limits.interlock_hysteresis_c
        self._ids = tuple(sensor_ids)
        self.tripped: Trip | None = None
        self.emergency: str | None = None
        # Trips since start (the metric photon_device_interlock_trips_total reads it).
        self.trips = 0

    def set_limits(self, limits: LimitsSpec) -> None:
        """New trip and clear temperatures (UpdateLimits); a trip in force clears by the new
        clear temperature."""
        self.trip_c = limits.interlock_temperature_c
        self.clear_c = limits.interlock_temperature_c - limits.interlock_hysteresis_c

    @property
    def holding(self) -> str:
        """Why dispatch is stopped now ("" when it is not)."""
        if self.emergency is not None:
            return f"emergency stop: {self.emergency}"
        return self.tripped.reason if self.tripped is not None else ""

    def hottest(
        self, readings_c: Sequence[float], estimate: Estimate | None
    ) -> tuple[float, str, str]:
        """(temperature °C, sensor id, "measured"|"estimated") of the hottest counted sensor."""
        low, high = PLAUSIBLE_C
        distrusted = estimate.distrusted if estimate is not None else {}
        if not distrusted and len(readings_c) == len(self._ids) and readings_c:
            # The usual pass, at 100 Hz for months: every reading counts. A sum that is finite
            # has no NaN, so min and max are the readings' own.
            top = max(readings_c)
            if math.isfinite(sum(readings_c)) and low <= min(readings_c) and top <= high:
                # Among equal readings the greatest id, as the tuples' order picks below.
                ids = self._ids
                tied = (ids[i] for i, value in enumerate(readings_c) if value == top)
                return (top, max(tied), "measured")
        best = (-math.inf, "", "")
        for i, (sensor_id, value) in enumerate(zip(self._ids, readings_c, strict=True)):
            if math.isfinite(value) and low <= value <= high and sensor_id not in distrusted:
                candidate = (value, sensor_id, "measured")
            elif estimate is not None:
                candidate = (float(estimate.sensor_estimate_c[i]), sensor_id, "estimated")
            else:
                continue
            best = max(best, candidate)
        return best

    def check(self, readings_c: Sequence[float], estimate: Estimate | None) -> bool | None:
        """Update from one sample: True when it trips now, False when it clears now, else None."""
        value, sensor_id, how = self.hottest(readings_c, estimate)
        if self.tripped is None and value > self.trip_c:
            self.tripped = Trip(
                f"interlock: sensor {sensor_id} {how} {value:.2f} °C, above the interlock "
                f"temperature {self.trip_c:g} °C; resumes below {self.clear_c:g} °C",
                value,
            )
            self.trips += 1
            return True
        if self.tripped is not None and value < self.clear_c:
            self.tripped = None
            return False
        return None
