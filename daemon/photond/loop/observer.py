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
so a pass is numpy calls, not arithmetic. The rules therefore run on all sensors at once (a
reason string is formatted only for a sensor that breaks one), the stuck rule's windows are
fixed arrays written in place, readouts that do not change between samples are precomputed,
and the distrusted sensors' mapping is rebuilt only when it changes.
`benchmarks/photon_bench/reference_observer.py` keeps the straightforward version this must
agree with (tests/test_observer.py), and `benchmarks/loop_pass.py` times both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from photon_drivers.interface import SensorSample
from photon_drivers.profile import DeviceProfile
from photond.model import ModelState
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
        self._f = np.zeros((r + 1, r + 1))
        self._f[:r, :r] = np.diag(m.decay)
        self._f[:r, r] = m.input_gain[:, heaters]
        self._f[r, r] = 1.0
        self._f_t = np.ascontiguousarray(self._f.T)
        self._g = m.input_gain[:, :heaters]
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
        self._set_power(np.zeros(heaters))
        self._noise_var = self._r0.copy()
        # The stuck rule's windows: the latest `stuck_samples` readings and predictions, as
        # rings written in place (the order within a window does not matter to its range).
        self._readings = np.zeros((config.stuck_samples, sensors))
        self._predictions = np.zeros((config.stuck_samples, sensors))
        self._samples = 0
        self._half_resolution = self._resolution / 2
        self._four_resolutions = 4 * self._resolution
        self._no_sensor = np.zeros(sensors, dtype=bool)
        # Why each distrusted sensor is (by index), the same as a mask, and as the estimate
        # names them (a new mapping at each change, never changed after: estimates share it).
        self._distrust: dict[int, str] = {}
        self._distrusted = np.zeros(sensors, dtype=bool)
        self._named: dict[str, str] = {}
        self._good_run = np.zeros(sensors, dtype=np.int64)

    def reset(self, state: ModelState, ambient_offset_c: float = 0.0) -> None:
        """Start from a known state (e.g. the device idle at ambient at start-up)."""
        self._z = np.append(state.x, ambient_offset_c)
        self._set_power(np.asarray(state.power_mw, dtype=np.float64).copy())
        self._acquiring = True

    def update(self, sample: SensorSample, applied_mw: ArrayLike, periods: int = 1) -> Estimate:
        """Fold in one sample; `applied_mw` was held over the `periods` just past."""
        p = np.asarray(applied_mw, dtype=np.float64)
        heat = self._g @ p
        for _ in range(max(periods, 1)):
            self._z = self._f @ self._z
            self._z[:-1] += heat
            self._p = self._f @ self._p @ self._f_t + self._q
        self._set_power(p)
        raw = np.asarray(sample.temperature_c, dtype=np.float64)
        predicted = self._read()
        innovation = raw - predicted
        hp = self._h @ self._p
        s_diag = (hp * self._h).sum(axis=1) + self._noise_var
        acquiring, self._acquiring = self._acquiring, False
        anchoring = self._judge(raw, predicted, innovation, np.sqrt(s_diag), acquiring)
        if anchoring and not acquiring:  # while acquiring, the uncertainty is the prior's already
            self._p = self._p + self._p0
            hp = self._h @ self._p
        if not self._distrust:
            self._correct(innovation, None, hp, s_diag, learn_noise=not anchoring)
        elif len(self._distrust) < len(raw):
            # Noise is learnt from ordinary samples only: an anchoring innovation (tens of K) is
            # the state's error, not the sensors' noise.
            trusted = ~self._distrusted
            self._correct(innovation, trusted, hp[trusted], s_diag, learn_noise=not anchoring)
        return self.estimate()

    def estimate(self) -> Estimate:
        m, r = self.model, self.model.modes
        return Estimate(
            state=ModelState(self._z[:r].copy(), self._power.copy()),
            ambient_offset_c=float(self._z[r]),
            sensor_estimate_c=self._read(),
            hotspot_estimate_c=m.ambient_c + self._hot @ self._z + self._hot_fed,
            distrusted=self._named,
        )

    def _set_power(self, power_mw: FloatArray) -> None:
        """Hold `power_mw` from now on, with the readouts' feedthrough of it."""
        self._power = power_mw
        self._sensor_fed = self._sensor_feed @ power_mw
        self._hot_fed = self._hot_feed @ power_mw

    def _read(self) -> FloatArray:
        """The sensors' readings the state and the held powers predict."""
        return np.asarray(self.model.ambient_c + self._h @ self._z + self._sensor_fed)

    def _judge(
        self,
        raw: FloatArray,
        predicted: FloatArray,
        innovation: FloatArray,
        sigma: FloatArray,
        acquiring: bool,
    ) -> bool:
        """Apply the rejection rules; update who is distrusted and why.

        True when this sample anchors the state instead (see the jump rule in the docstring).
        """
        cfg = self.config
        slot = self._samples % cfg.stuck_samples
        self._readings[slot] = raw
        self._predictions[slot] = predicted
        self._samples += 1
        # A colder room lowers the floor; a warmer one (or a hot plant read as one) does not.
        low_c = self.model.ambient_c + min(self._z[-1], 0.0) - cfg.range_margin_c
        fine = np.isfinite(raw)
        usable = fine & ~self._distrusted
        # Distrusted sensors' normalised innovations are compared with this centre.
        # A non-number compares False everywhere below (and warns nowhere).
        jumped = np.abs(innovation) > self._jump_bound_c + cfg.jump_sigmas * sigma
        in_range = (low_c <= raw) & (raw <= self._hard_max_c)
        up = int(np.count_nonzero(usable & jumped & (innovation > 0)))
        anchoring = acquiring or (up > 0 and up > int(np.count_nonzero(usable)) / 2)
        stuck = self._no_sensor
        if self._samples >= cfg.stuck_samples:
            # A window holding a non-number (a sensor just repaired) does not count as stuck.
            window = self._readings
            still = window.max(axis=0) - window.min(axis=0) <= self._half_resolution
            if np.count_nonzero(still):  # rare: noise alone moves a working sensor
                window = self._predictions
                expected = window.max(axis=0) - window.min(axis=0) > self._four_resolutions
                stuck = still & (self._noisy | expected)
        broken = ~in_range | stuck  # ~in_range holds every non-number too
        if not anchoring:
            broken |= jumped
        changed = False
        for i in np.flatnonzero(broken):
            value = float(raw[i])
            if not fine[i]:
                why = "nan: the reading is not a number"
            elif not in_range[i]:
                why = (
                    f"out of range: reads {value:.2f} °C, plausible "
                    f"{low_c:.1f}..{self._hard_max_c:.1f} °C"
                )
            elif stuck[i]:
                why = f"stuck: {value:.2f} °C for {cfg.stuck_samples} samples"
            else:
                why = (
                    f"jump: {innovation[i]:+.2f} °C off the model in one period; physics "
                    f"allows {self._jump_bound_c[i]:.2f} °C"
                )
            self._distrust[int(i)] = why
            self._good_run[i] = 0
            changed = True
        recovering = self._distrusted & ~broken
        if np.count_nonzero(recovering):
            # Distrusted sensors must agree with the usable ones' median normalised innovation.
            normalised = innovation / sigma
            centre = float(_median(normalised[usable])) if np.count_nonzero(usable) else 0.0
            agrees = np.abs(normalised - centre) <= 5.0
            self._good_run[recovering] = np.where(agrees, self._good_run + 1, 0)[recovering]
            for i in np.flatnonzero(recovering & (self._good_run >= cfg.trust_after_samples)):
                del self._distrust[int(i)]
                changed = True
        if changed:
            self._distrusted = np.zeros_like(self._distrusted)
            self._distrusted[list(self._distrust)] = True
            self._named = {self._ids[i]: why for i, why in sorted(self._distrust.items())}
        return anchoring

    def _correct(
        self,
        innovation: FloatArray,
        trusted: NDArray[np.bool_] | None,
        hp: FloatArray,
        s_diag: FloatArray,
        learn_noise: bool = True,
    ) -> None:
        """The Kalman update from the trusted sensors (None: every sensor), `hp` their rows
        of H P."""
        if trusted is None:
            h, noise, seen_innovation, seen_s = self._h, self._noise_var, innovation, s_diag
        else:
            h, noise = self._h[trusted], self._noise_var[trusted]
            seen_innovation, seen_s = innovation[trusted], s_diag[trusted]
        s = hp @ h.T
        s[np.diag_indices_from(s)] += noise
        gain = np.linalg.solve(s, hp).T
        self._z = self._z + gain @ seen_innovation
        keep = self._eye - gain @ h
        self._p = keep @ self._p @ keep.T + (gain * noise) @ gain.T
        if not learn_noise:
            return
        # Learn how noisy each trusted sensor really is (never below its datasheet).
        seen = seen_innovation**2 - (seen_s - noise)
        updated = 0.995 * noise + 0.005 * seen
        if trusted is None:
            np.maximum(self._r0, updated, out=self._noise_var)
        else:
            self._noise_var[trusted] = np.maximum(self._r0[trusted], updated)


def _median(values: FloatArray) -> float:
    """np.median of a few values, bit for bit, without its general machinery (~10x slower)."""
    ordered = np.sort(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[half])
    return float((ordered[half - 1] + ordered[half]) / 2)
