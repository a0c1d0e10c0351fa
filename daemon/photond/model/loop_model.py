"""The compact model as the closed loop uses it: heaters plus the room's temperature as inputs.

This is the one model of the daemon: the observer and the optimiser run it whole, and the
forecasts and the re-planner its truncation to `FORECAST_MODES`, all at the configured control
period. `CompactModel` alone assumes the room sits at the profile's ambient; a running
device cannot: the room warms, the model is coarser than the chip, cooling degrades. This model
adds one more input, the *ambient offset* (K above the profile's ambient), entering the model
exactly as it enters the plant: as heat g_amb·offset flowing in through every path to ambient.
So a room step raises the die with the package's time constant, as on the real chip, and an
estimated offset predicts the rise still to come rather than only what has already arrived.

With r modes of period dt (see docs/thermal-model.md, §1), inputs u = [heater mW..., offset K]:

    x[k+1] = a ⊙ x[k] + b u[k]            a = exp(-λ dt),  b = diag((1-a)/λ) [B | B_amb]
    y[k]   = ambient + C x[k+1] + D u[k]   (sensors, heater footprints, or both: the limit points)

B_amb = V_r^T C^-1/2 g_amb; its feedthrough is the steady gain of the discarded modes, as for
the heaters, so a constant offset raises every point by exactly the offset at steady state.

`truncated(r')` keeps fewer modes with the rest residualised (their steady gain moves into D):
the forecasts and the re-planner use r' = 6 (time constants 8.5 s down to 5 ms on the default
chip; the rest settle within half a control period), the observer and the optimiser the full r.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from photon_drivers.profile import DeviceProfile
from photond.model import ModelState, compact_model, plant_network
from photond.model.metrics import SensorPairs, limit_point_pairs

FloatArray = NDArray[np.float64]

# Modes the forecasts keep (see the module docstring).
FORECAST_MODES = 6


@dataclass(frozen=True)
class LoopModel:
    """Discrete matrices over inputs [heaters..., ambient offset]; see the module docstring."""

    dt_s: float
    ambient_c: float
    heater_ids: tuple[str, ...]
    decay: FloatArray  # (r,) a
    input_gain: FloatArray  # (r, heaters + 1) b, per period
    sensor_out: FloatArray  # (sensors, r)
    sensor_feed: FloatArray  # (sensors, heaters + 1)
    hotspot_out: FloatArray  # (heaters, r): each heater's footprint
    hotspot_feed: FloatArray  # (heaters, heaters + 1)
    heater_max_mw: FloatArray  # (heaters,)
    limit_pairs: SensorPairs  # neighbouring sensors, indexed into `limit_readout()`'s rows

    @property
    def modes(self) -> int:
        return int(self.decay.shape[0])

    @property
    def heaters(self) -> int:
        return len(self.heater_ids)

    @property
    def time_constants_s(self) -> FloatArray:
        """The kept modes' time constants, longest first."""
        return np.asarray(-self.dt_s / np.log(self.decay))

    def limit_readout(self) -> tuple[FloatArray, FloatArray]:
        """(out, feed) at the limit points: every heater's footprint, then every sensor (the
        points where the limits are enforced; `photond.model.compact.Readout`)."""
        return (
            np.vstack([self.hotspot_out, self.sensor_out]),
            np.vstack([self.hotspot_feed, self.sensor_feed]),
        )

    def truncated(self, modes: int) -> LoopModel:
        """Keep the `modes` slowest modes; the others' steady gain moves into the feedthrough."""
        if not 1 <= modes <= self.modes:
            raise ValueError(f"modes must be in [1, {self.modes}], got {modes}")
        dropped_gain = self.input_gain[modes:] / (1.0 - self.decay[modes:, None])
        return LoopModel(
            self.dt_s,
            self.ambient_c,
            self.heater_ids,
            self.decay[:modes].copy(),
            self.input_gain[:modes].copy(),
            self.sensor_out[:, :modes].copy(),
            self.sensor_feed + self.sensor_out[:, modes:] @ dropped_gain,
            self.hotspot_out[:, :modes].copy(),
            self.hotspot_feed + self.hotspot_out[:, modes:] @ dropped_gain,
            self.heater_max_mw,
            self.limit_pairs,
        )

    def steady_modes(self, inputs: FloatArray) -> FloatArray:
        """The modal state constant inputs settle to."""
        return np.asarray(self.input_gain @ inputs / (1.0 - self.decay))


@functools.lru_cache(maxsize=8)
def loop_model(profile: DeviceProfile, dt_s: float) -> LoopModel:
    """The loop model of `profile` for control period `dt_s` (cached: an eigenproblem)."""
    model = compact_model(profile, dt_s)
    network = plant_network(profile)
    rates = model.rates_per_s
    # V_r^T C^-1/2 g_amb = node_to_modes @ (g_amb / C), since node_to_modes = V_r^T C^1/2.
    ambient_in = model.node_to_modes @ (network.to_ambient_w_per_k / network.capacitance_j_per_k)
    heater_in = model.input_per_mw
    inputs = np.column_stack([heater_in, ambient_in])
    gain = (-np.expm1(-rates * dt_s) / rates)[:, None] * inputs
    sensor_out, sensor_feed = model.output_matrices("sensors")
    hot_out, hot_feed = model.output_matrices("heaters")
    kept_ambient = ambient_in / rates
    # A uniform offset raises every node by itself at steady state: readouts' rows sum to it.
    sensor_amb = network.sensor_weights.sum(axis=1) - sensor_out @ kept_ambient
    hot_amb = network.heater_injection.sum(axis=0) - hot_out @ kept_ambient
    return LoopModel(
        dt_s=float(dt_s),
        ambient_c=profile.ambient_c,
        heater_ids=model.heater_ids,
        decay=model.decay.copy(),
        input_gain=gain,
        sensor_out=sensor_out,
        sensor_feed=np.column_stack([sensor_feed, sensor_amb]),
        hotspot_out=hot_out,
        hotspot_feed=np.column_stack([hot_feed, hot_amb]),
        heater_max_mw=np.array([h.max_power_mw for h in profile.heaters]),
        limit_pairs=limit_point_pairs(profile),
    )


@dataclass(frozen=True)
class Estimate:
    """What the observer (`photond.loop.observer`) believes of this model's state after one
    sample; the forecasts and re-plans start from it."""

    state: ModelState
    ambient_offset_c: float
    sensor_estimate_c: FloatArray
    hotspot_estimate_c: FloatArray  # at each heater's footprint, profile order
    distrusted: dict[str, str] = field(default_factory=dict)

    @property
    def hottest_c(self) -> float:
        """The hottest limit point: a heater's footprint or a sensor, estimated (computed once:
        the loop asks several times a pass, and an estimate does not change)."""
        hottest_c: float | None = self.__dict__.get("_hottest_c")
        if hottest_c is None:
            hottest_c = float(max(self.hotspot_estimate_c.max(), self.sensor_estimate_c.max()))
            object.__setattr__(self, "_hottest_c", hottest_c)
        return hottest_c
