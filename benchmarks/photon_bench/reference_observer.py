"""The observer as it was before its pass was made cheaper (commit 583dfa8), kept word for word.

`photond.loop.observer.Observer` was rewritten to cost less per control period (rejection rules
applied to all sensors at once, the covariance and readouts fused and precomputed). This copy
is the reference it must agree with, sample for sample, distrust reason for distrust reason:
`tests/test_observer.py` plays the same samples through both, and
`benchmarks/loop_pass.py` times both on the same input. See the daemon's module for what the
filter does and why.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import ArrayLike, NDArray

from photon_drivers.interface import SensorSample
from photon_drivers.profile import DeviceProfile
from photond.loop.observer import ObserverConfig
from photond.model import ModelState
from photond.model.loop_model import Estimate, LoopModel, loop_model

FloatArray = NDArray[np.float64]


class ReferenceObserver:
    """`photond.loop.observer.Observer` as it was at commit 583dfa8."""

    def __init__(
        self, profile: DeviceProfile, dt_s: float, config: ObserverConfig | None = None
    ) -> None:
        self.config = config = config or ObserverConfig()
        self.model: LoopModel = loop_model(profile, dt_s)
        m = self.model
        r, heaters = m.modes, m.heaters
        self._ids = tuple(s.id for s in profile.sensors)
        self._resolution = np.array([s.resolution_c for s in profile.sensors])
        self._r0 = np.array([s.noise_c**2 + s.resolution_c**2 / 12 for s in profile.sensors])
        self._noisy = np.array([s.noise_c >= s.resolution_c for s in profile.sensors])
        self._hard_max_c = config.hard_max_c or profile.limits.interlock_temperature_c + 30.0
        self._f = np.zeros((r + 1, r + 1))
        self._f[:r, :r] = np.diag(m.decay)
        self._f[:r, r] = m.input_gain[:, heaters]
        self._f[r, r] = 1.0
        self._g = m.input_gain[:, :heaters]
        self._h = np.column_stack([m.sensor_out, m.sensor_feed[:, heaters]])
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
        self._history: deque[FloatArray] = deque(maxlen=config.stuck_samples)
        self._predicted: deque[FloatArray] = deque(maxlen=config.stuck_samples)
        self._distrust: dict[int, str] = {}
        self._good_run = np.zeros(len(self._ids), dtype=np.int64)

    def reset(self, state: ModelState, ambient_offset_c: float = 0.0) -> None:
        """Start from a known state (e.g. the device idle at ambient at start-up)."""
        self._z = np.append(state.x, ambient_offset_c)
        self._power = np.asarray(state.power_mw, dtype=np.float64).copy()
        self._acquiring = True

    def update(self, sample: SensorSample, applied_mw: ArrayLike, periods: int = 1) -> Estimate:
        """Fold in one sample; `applied_mw` was held over the `periods` just past."""
        p = np.asarray(applied_mw, dtype=np.float64)
        for _ in range(max(periods, 1)):
            self._z = self._f @ self._z
            self._z[:-1] += self._g @ p
            self._p = self._f @ self._p @ self._f.T + self._q
        self._power = p
        raw = np.asarray(sample.temperature_c, dtype=np.float64)
        predicted = self._read(self.model.sensor_feed[:, :-1])
        innovation = raw - predicted
        s_diag = np.einsum("ij,jk,ik->i", self._h, self._p, self._h) + self._noise_var
        acquiring, self._acquiring = self._acquiring, False
        anchoring = self._judge(raw, predicted, innovation, np.sqrt(s_diag), acquiring)
        if anchoring and not acquiring:  # while acquiring, the uncertainty is the prior's already
            self._p = self._p + self._p0
        trusted = np.array([i not in self._distrust for i in range(len(raw))])
        if trusted.any():
            # Noise is learnt from ordinary samples only: an anchoring innovation (tens of K) is
            # the state's error, not the sensors' noise.
            self._correct(innovation, trusted, s_diag, learn_noise=not anchoring)
        return self.estimate()

    def estimate(self) -> Estimate:
        m, r = self.model, self.model.modes
        return Estimate(
            state=ModelState(self._z[:r].copy(), self._power.copy()),
            ambient_offset_c=float(self._z[r]),
            sensor_estimate_c=self._read(m.sensor_feed[:, :-1]),
            hotspot_estimate_c=np.asarray(
                m.ambient_c
                + m.hotspot_out @ self._z[:r]
                + m.hotspot_feed[:, :-1] @ self._power
                + m.hotspot_feed[:, -1] * self._z[r]
            ),
            distrusted={self._ids[i]: why for i, why in sorted(self._distrust.items())},
        )

    def _read(self, feed: FloatArray) -> FloatArray:
        return np.asarray(self.model.ambient_c + self._h @ self._z + feed @ self._power)

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
        self._history.append(raw.copy())
        self._predicted.append(predicted)
        # A colder room lowers the floor; a warmer one (or a hot plant read as one) does not.
        low_c = self.model.ambient_c + min(self._z[-1], 0.0) - cfg.range_margin_c
        full = len(self._history) == cfg.stuck_samples
        if full:
            # A window holding a non-number (a sensor just repaired) does not count as stuck.
            moved = ~(np.ptp(np.array(self._history), axis=0) <= self._resolution / 2)
            expected = np.ptp(np.array(self._predicted), axis=0) > 4 * self._resolution
        fine = np.isfinite(raw)
        usable = [i for i in range(len(raw)) if fine[i] and i not in self._distrust]
        centre = float(np.median(innovation[usable] / sigma[usable])) if usable else 0.0
        jumped = np.abs(innovation) > self._jump_bound_c + cfg.jump_sigmas * sigma
        up = sum(1 for i in usable if jumped[i] and innovation[i] > 0)
        anchoring = acquiring or (bool(usable) and up > len(usable) / 2)
        for i, value in enumerate(raw):
            why = ""
            if not fine[i]:
                why = "nan: the reading is not a number"
            elif not low_c <= value <= self._hard_max_c:
                why = (
                    f"out of range: reads {value:.2f} °C, plausible "
                    f"{low_c:.1f}..{self._hard_max_c:.1f} °C"
                )
            elif full and not moved[i] and (self._noisy[i] or expected[i]):
                why = f"stuck: {value:.2f} °C for {cfg.stuck_samples} samples"
            elif jumped[i] and not anchoring:
                why = (
                    f"jump: {innovation[i]:+.2f} °C off the model in one period; physics "
                    f"allows {self._jump_bound_c[i]:.2f} °C"
                )
            if why:
                self._distrust[i] = why
                self._good_run[i] = 0
            elif i in self._distrust:
                agrees = abs(innovation[i] / sigma[i] - centre) <= 5.0
                self._good_run[i] = self._good_run[i] + 1 if agrees else 0
                if self._good_run[i] >= cfg.trust_after_samples:
                    del self._distrust[i]
        return anchoring

    def _correct(
        self,
        innovation: FloatArray,
        trusted: NDArray[np.bool_],
        s_diag: FloatArray,
        learn_noise: bool = True,
    ) -> None:
        h = self._h[trusted]
        noise = self._noise_var[trusted]
        s = h @ self._p @ h.T + np.diag(noise)
        gain = np.linalg.solve(s, h @ self._p).T
        self._z = self._z + gain @ innovation[trusted]
        keep = np.eye(len(self._z)) - gain @ h
        self._p = keep @ self._p @ keep.T + (gain * noise) @ gain.T
        if not learn_noise:
            return
        # Learn how noisy each trusted sensor really is (never below its datasheet).
        seen = innovation[trusted] ** 2 - (s_diag[trusted] - noise)
        updated = 0.995 * noise + 0.005 * seen
        self._noise_var[trusted] = np.maximum(self._r0[trusted], updated)
