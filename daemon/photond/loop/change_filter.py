"""The reading ON_CHANGE judges a change on: each sensor's exponential average over `tau_s`.

A deadband is about the temperature changing, not about the sensor's noise. Compared raw, a
0.05 °C-noise sensor (the shipped profiles') differs from the reading last sent by more than
0.1 °C on ~16 % of samples, because the one last sent was itself sent for being an outlier:
ON_CHANGE at 0.1 °C then sent only 6x fewer readings than SAMPLE on an idle chip. Judged on
this filter's value it is hundreds of times fewer (`benchmarks/telemetry_fanout.py`).

The filter, per sensor, at device time t after a sample d_t seconds after the previous one:
``f += (1 - exp(-d_t / tau_s)) * (reading - f)`` — a first-order low-pass with time constant
`tau_s` in device seconds, so it means the same at any control period and across a late pass.

- Noise: a reading's noise sigma becomes sigma * sqrt(a / (2 - a)), a = 1 - exp(-period /
  tau_s): with the default 20 ms, 0.49 sigma at a 10 ms loop (0.025 °C for 0.05 °C sensors)
  and 0.16 sigma at 1 kHz (0.008 °C), so a 0.1 °C deadband is 4 of those sigmas or more.
- Lag: after a step of D °C the filtered value has moved by the deadband d after
  ``tau_s * ln(D / (D - d))`` — 8 ms for a 0.3 °C step against 0.1 °C, i.e. the next pass of
  a 10 ms loop; a steady ramp is followed tau_s behind. 20 ms is short beside the die's and the
  package's time constants (tenths of a second and more), so no change the die can make is
  hidden, only the noise between passes.

Why not the observer's estimate at the sensor (it is as quiet: 0.021 °C on the default chip,
and knows a heater's step before the sensor does): it can only show what the compact model can
represent. A sensor reading 0.3 °C above its neighbours for a cause the model has no heater
for (a local heat source, a drifting sensor) can move the estimate by less than the deadband:
fed a 0.3 °C step in one of the default chip's sensors at a 10 ms period (5 seeded trials),
the estimate there took 2.2 s in one trial, and more than 4 s in another, to move by 0.1 °C,
so a deadband judged on it would have hidden a real 0.3 °C change. This filter follows every
reading, and its lag is the formula above, whatever the model says. What a subscriber receives
is still the raw reading (see `subscription`).

A reading that is not a number passes through as NaN (a change of its own), and the filter
restarts from the next number; `tau_s` 0 judges every raw reading.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

DEFAULT_CHANGE_FILTER_S = 0.02


class ChangeFilter:
    """Per-sensor exponential averages of the readings; see the module docstring."""

    def __init__(self, sensors: int, tau_s: float) -> None:
        if not (math.isfinite(tau_s) and tau_s >= 0):
            raise ValueError(f"a change filter's time constant must be >= 0 s, got {tau_s}")
        self.tau_s = tau_s
        self._value_c: FloatArray = np.full(sensors, np.nan)
        self._time_s: float | None = None

    @property
    def time_s(self) -> float | None:
        """Device time of the last reading folded in (None before the first)."""
        return self._time_s

    def update(self, t_s: float, temperature_c: ArrayLike) -> FloatArray:
        """Fold in the readings taken at device time `t_s`; the filtered values (a new array,
        which the caller may share but not change). Readings no newer than the last folded in
        change nothing."""
        raw = np.asarray(temperature_c, dtype=np.float64)
        last_s = self._time_s
        if last_s is not None and t_s <= last_s and self.tau_s > 0:
            # Already folded in (a snapshot the hub warmed the filter with, then handed over).
            return self._value_c
        self._time_s = t_s
        if self.tau_s == 0 or last_s is None:
            self._value_c = raw.copy()
            return self._value_c
        weight = -math.expm1(-(t_s - last_s) / self.tau_s)
        value = self._value_c + weight * (raw - self._value_c)
        # NaN in either: the raw reading (a failed sensor stays NaN; a recovered one restarts).
        restart = np.isnan(value)
        value[restart] = raw[restart]
        self._value_c = value
        return value
