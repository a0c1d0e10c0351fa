"""Estimate the chip's full thermal state from its sensors: a Kalman filter on the loop model.

The state is the compact model's modes plus the room's offset from the profile's ambient (a
random walk entering as the plant feels it, see `loop_model`), so a room step or slow drift is
absorbed rather than read as model error. The filter is time-varying, not a fixed steady-state
gain, because the set of sensors it trusts changes: a sensor judged implausible is dropped from
the update (its row of the measurement matrix goes), and a fixed gain would be wrong for every
subset but one. With 17 states and 16 sensors a full update costs tens of microseconds.

Noise, from documented figures rather than tuning:
- measurement: each sensor's `noise_c`² plus its quantisation `resolution_c`²/12 (profile),
  raised at run time to the innovation variance actually seen (an exponential average over
  ~2 s), so a noisier sensor than its datasheet does not make every reading look like a jump;
- process: `model_error_c` per period, the compact model's transient error against the plant
  (docs/thermal-model.md §2 measures ≤ 3 mK; the default 20 mK leaves room for a plant off by
  tens of percent), given to each mode so that it can move no sensor or hot spot by more than
  that in one period; and `ambient_walk_c` per period for the room.

Rejection rules (a sensor's reason is kept until it is trusted again), in order:
- ``nan``: not a finite number;
- ``out of range``: below the profile's ambient (or a colder estimated room) minus
  `range_margin_c`, or above `hard_max_c` (default: the interlock temperature + 30 °C) — a
  dead sensor's rail reads here;
- ``stuck``: no change beyond its resolution over `stuck_samples` readings while its noise alone
  (noise ≥ resolution) or the model's prediction should have moved it;
- ``jump``: an innovation larger than any heater could cause in one period (every heater from
  0 to its max, through the model's one-period response) plus `jump_sigmas` standard
  deviations: faster than the physics allows. Not applied to the first sample after start-up
  or `reset` (the state is a prior then, not a known state a period old: a chip already hot
  when photond starts would otherwise have every sensor rejected, the estimate left at the
  prior's ambient, and the interlock reading that estimate instead of 120 °C sensors), nor when
  most trusted sensors jump *up* together: a chip hotter than the model says is the model's
  error, so the state is re-anchored on the sensors (its prior uncertainty added back). Most
  sensors jumping *down* together stay distrusted: the hotter estimate stands in, the safe side.
A distrusted sensor is trusted again after `trust_after_samples` consecutive readings that break
no rule and agree with the others (normalised innovation within 5 of the trusted sensors' median).

Cost: this runs every control period, at 100 Hz for months, and its matrices are tiny (17 x 17),
so as numpy calls a pass was their overhead, not arithmetic. The pass is therefore one numba
kernel (`photond.model.kalman`: predict, the rules on every sensor, correct, read out); this
class keeps the state between passes and formats a reason only for a sensor that breaks a rule.
`benchmarks/photon_bench/reference_observer.py` keeps the straightforward numpy version this
must agree with (tests/test_observer.py), and `benchmarks/loop_pass.py` times both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from photon_drivers.interface import SensorSample
from photon_drivers.profile import DeviceProfile
from photond.model import ModelState
from photond.model.kalman import NAN, OUT_OF_RANGE, STUCK, TRUSTED_AGAIN, observe_kernel
from photond.model.loop_model import Estimate, LoopModel, loop_model

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ObserverConfig:
    model_error_c: float = 0.02
    ambient_walk_c: float = 0.01
    range_margin_c: float = 15.0
    hard_max_c: float | None = None
    stuck_samples: int = 25
    trust_after_samples: int = 50
    jump_sigmas: float = 6.0
    # Prior standard deviation of the initial state (K at the sensors) and of the room (K).
    initial_error_c: float = 10.0


class Observer:
    """A Kalman filter over [modes, ambient offset]; see the module docstring."""

    def __init__(
        self, profile: DeviceProfile, dt_s: float, config: ObserverConfig | None = None
    ) -> None:
        self.config = config = config or ObserverConfig()
        self.model: LoopModel = loop_model(profile, dt_s)
        m = self.model
        r, heaters = m.modes, m.heaters
        sensors = len(profile.sensors)
        self._ids = tuple(s.id for s in profile.sensors)
        self._resolution = np.array([s.resolution_c for s in profile.sensors])
        self._r0 = np.array([s.noise_c**2 + s.resolution_c**2 / 12 for s in profile.sensors])
        self._noisy = np.array([s.noise_c >= s.resolution_c for s in profile.sensors])
        self._hard_max_c = config.hard_max_c or profile.limits.interlock_temperature_c + 30.0
        # The transition over [modes, offset] by its parts (observe_kernel's docstring).
        self._decay = np.ascontiguousarray(m.decay, dtype=np.float64)
        self._ambient_gain = np.ascontiguousarray(m.input_gain[:, heaters])
        self._g = np.ascontiguousarray(m.input_gain[:, :heaters])
        self._h = np.column_stack([m.sensor_out, m.sensor_feed[:, heaters]])
        # Readouts over [modes, offset] and the heaters' feedthrough, for sensors and hot spots.
        self._sensor_feed = np.ascontiguousarray(m.sensor_feed[:, :heaters])
        self._hot = np.column_stack([m.hotspot_out, m.hotspot_feed[:, heaters]])
        self._hot_feed = np.ascontiguousarray(m.hotspot_feed[:, :heaters])
        self._eye = np.eye(r + 1)
        reach = np.maximum(np.abs(m.sensor_out).max(axis=0), np.abs(m.hotspot_out).max(axis=0))
        self._q = np.diag(np.append((config.model_error_c / reach) ** 2, config.ambient_walk_c**2))
        one_period = m.sensor_out @ m.input_gain[:, :heaters] + m.sensor_feed[:, :heaters]
        self._jump_bound_c = np.abs(one_period) @ m.heater_max_mw
        self._z = np.zeros(r + 1)
        self._p0 = np.diag(np.append((config.initial_error_c / reach) ** 2, 1.0))
        self._p = self._p0.copy()
        # True until the first sample after start-up or reset: the jump rule needs a known state.
        self._acquiring = True
        self._power = np.zeros(heaters)
        self._noise_var = self._r0.copy()
        # The stuck rule's windows: the latest `stuck_samples` readings and predictions, as
        # rings written in place (the order within a window does not matter to its range).
        self._readings = np.zeros((config.stuck_samples, sensors))
        self._predictions = np.zeros((config.stuck_samples, sensors))
        self._samples = 0
        self._half_resolution = self._resolution / 2
        self._four_resolutions = 4 * self._resolution
        # Why each distrusted sensor is (by index), the same as a mask, and as the estimate
        # names them (a new mapping at each change, never changed after: estimates share it).
        self._distrust: dict[int, str] = {}
        self._distrusted = np.zeros(sensors, dtype=bool)
        self._named: dict[str, str] = {}
        self._good_run = np.zeros(sensors, dtype=np.int64)
        # The kernel compiled (or loaded from numba's cache) now, not at the loop's first pass.
        self._warm_up()

    def reset(self, state: ModelState, ambient_offset_c: float = 0.0) -> None:
        """Start from a known state (e.g. the device idle at ambient at start-up)."""
        self._z = np.append(state.x, ambient_offset_c)
        self._power = np.array(state.power_mw, dtype=np.float64)
        self._acquiring = True

    def update(self, sample: SensorSample, applied_mw: ArrayLike, periods: int = 1) -> Estimate:
        """Fold in one sample; `applied_mw` was held over the `periods` just past."""
        p = np.ascontiguousarray(applied_mw, dtype=np.float64)
        raw = np.array(sample.temperature_c, dtype=np.float64)
        acquiring, self._acquiring = self._acquiring, False
        cfg = self.config
        z, self._p, codes, low_c, innovation, sensor_c, hot_c = observe_kernel(
            self._z,
            self._p,
            self._decay,
            self._ambient_gain,
            self._q,
            self._g,
            p,
            periods,
            self._h,
            self._sensor_feed,
            self._hot,
            self._hot_feed,
            self.model.ambient_c,
            self._noise_var,
            self._r0,
            raw,
            self._readings,
            self._predictions,
            self._samples,
            self._half_resolution,
            self._four_resolutions,
            self._noisy,
            self._jump_bound_c,
            cfg.jump_sigmas,
            self._hard_max_c,
            cfg.range_margin_c,
            self._distrusted,
            self._good_run,
            cfg.trust_after_samples,
            acquiring,
            self._p0,
        )
        self._z = z
        self._power = p
        self._samples += 1
        if np.count_nonzero(codes):
            self._distrust_changed(codes, raw, innovation, low_c)
        r = self.model.modes
        return Estimate(
            state=ModelState(z[:r].copy(), p.copy()),
            ambient_offset_c=float(z[r]),
            sensor_estimate_c=sensor_c,
            hotspot_estimate_c=hot_c,
            distrusted=self._named,
        )

    def estimate(self) -> Estimate:
        m, r = self.model, self.model.modes
        return Estimate(
            state=ModelState(self._z[:r].copy(), self._power.copy()),
            ambient_offset_c=float(self._z[r]),
            sensor_estimate_c=m.ambient_c + self._h @ self._z + self._sensor_feed @ self._power,
            hotspot_estimate_c=m.ambient_c + self._hot @ self._z + self._hot_feed @ self._power,
            distrusted=self._named,
        )

    def _distrust_changed(
        self, codes: NDArray[np.int64], raw: FloatArray, innovation: FloatArray, low_c: float
    ) -> None:
        """Say why each sensor that broke a rule is distrusted; forget the trusted again."""
        for i in np.flatnonzero(codes).tolist():
            code = codes[i]
            if code == TRUSTED_AGAIN:
                self._distrust.pop(i, None)
                continue
            value = float(raw[i])
            if code == NAN:
                why = "nan: the reading is not a number"
            elif code == OUT_OF_RANGE:
                why = (
                    f"out of range: reads {value:.2f} °C, plausible "
                    f"{low_c:.1f}..{self._hard_max_c:.1f} °C"
                )
            elif code == STUCK:
                why = f"stuck: {value:.2f} °C for {self.config.stuck_samples} samples"
            else:
                why = (
                    f"jump: {innovation[i]:+.2f} °C off the model in one period; physics "
                    f"allows {self._jump_bound_c[i]:.2f} °C"
                )
            self._distrust[i] = why
        self._named = {self._ids[i]: why for i, why in sorted(self._distrust.items())}

    def _warm_up(self) -> None:
        """Run the kernel once on a copy of the filter (its state is left as it was)."""
        cov, noise_var, readings = self._p.copy(), self._noise_var.copy(), self._readings.copy()
        predictions, distrusted = self._predictions.copy(), self._distrusted.copy()
        good_run = self._good_run.copy()
        ambient = np.full(len(self._ids), self.model.ambient_c)
        self.update(SensorSample(0.0, tuple(ambient.tolist())), self._power)
        self._p, self._noise_var, self._readings = cov, noise_var, readings
        self._predictions, self._distrusted, self._good_run = predictions, distrusted, good_run
        self._z = np.zeros_like(self._z)
        self._samples = 0
        self._acquiring = True
        self._distrust = {}
        self._named = {}
