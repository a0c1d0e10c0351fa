"""The simulated chip: a Driver whose device is an RC thermal network played on a Clock.

It implements the same contract as a hardware driver and behaves like one in time: physics
does not run in a thread, it is caught up lazily and exactly to `clock.now_s()` whenever the
driver is touched, under the powers that were applied since the last touch. So a fast
`ScaledClock` or a hand-stepped `ManualClock` changes only how long one waits, never the
temperatures. Sim-only inspection (`true_temperatures_c`, `heater_powers_mw`,
`total_power_mw`) is kept off the Driver interface, under its own names.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .clock import Clock, ScaledClock
from .interface import Driver, SensorSample, check_powers
from .profile import DeviceProfile, load_profile
from .rc_network import FloatArray, network_from_profile

_OPTIONS = ("profile", "seed")


class SimulatedChipDriver(Driver):
    """A device simulated from its profile, with seeded sensor noise.

    Sensors read the top layer of the die (bilinear between grid cells, see
    `network_from_profile`) plus Gaussian noise of the sensor's `noise_c`, quantised to its
    `resolution_c`, like an ADC would.

    Args:
        profile: the device; None loads the shipped default.
        clock: device time; None runs in real time.
        seed: seeds the sensor noise, so a run can be replayed exactly.
    """

    def __init__(
        self,
        profile: DeviceProfile | None = None,
        clock: Clock | None = None,
        *,
        seed: int = 0,
    ) -> None:
        self._profile = profile if profile is not None else load_profile()
        self._clock: Clock = clock if clock is not None else ScaledClock(1.0)
        self._chip = network_from_profile(self._profile)
        self._rng = np.random.default_rng(seed)
        sensors = self._profile.sensors
        self._noise_c = np.array([s.noise_c for s in sensors])
        self._resolution_c = np.array([s.resolution_c for s in sensors])
        # The daemon's control loop and its RPC threads call in concurrently; one lock keeps
        # the catch-up, the power change and the noise stream in one consistent order.
        self._lock = threading.Lock()
        self._rise_k: FloatArray = np.zeros(self._chip.network.node_count)
        self._heater_mw: FloatArray = np.zeros(len(self._chip.heater_ids))
        self._time_s = self._clock.now_s()

    @classmethod
    def open(cls, options: Mapping[str, str], clock: Clock) -> SimulatedChipDriver:
        """Build from config options: `profile` (path to a TOML profile) and `seed` (int).

        Raises:
            ValueError: an unknown option, a seed that is not an integer, or a bad profile.
        """
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ValueError(
                f"sim driver: unknown option(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(_OPTIONS)}"
            )
        try:
            seed = int(options.get("seed", "0"))
        except ValueError:
            raise ValueError(
                f"sim driver: option 'seed' must be an integer, got {options['seed']!r}"
            ) from None
        path = options.get("profile")
        profile = load_profile(Path(path)) if path is not None else None
        return cls(profile, clock, seed=seed)

    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    @property
    def clock(self) -> Clock:
        return self._clock

    def read_sensors(self) -> SensorSample:
        with self._lock:
            self._catch_up()
            true_c = self._profile.ambient_c + self._chip.sensor_weights @ self._rise_k
            noisy_c = true_c + self._rng.normal(0.0, 1.0, true_c.shape) * self._noise_c
            read_c = np.round(noisy_c / self._resolution_c) * self._resolution_c
            return SensorSample(self._time_s, tuple(float(t) for t in read_c))

    def set_heater_powers(self, powers_mw: Mapping[str, float]) -> None:
        check_powers(self._profile, powers_mw)
        heater_mw = np.array([float(powers_mw.get(h, 0.0)) for h in self._chip.heater_ids])
        with self._lock:
            self._catch_up()
            self._heater_mw = heater_mw

    def safe_state(self) -> None:
        with self._lock:
            self._catch_up()
            self._heater_mw = np.zeros_like(self._heater_mw)

    def ping(self) -> None:
        """A simulated device always answers."""

    def close(self) -> None:
        self.safe_state()

    # Sim-only: what no real device can tell, for tests and benchmarks.

    def true_temperatures_c(self) -> FloatArray:
        """Noise-free temperature of each top-layer grid cell now, shape (rows, cols)."""
        with self._lock:
            self._catch_up()
            return self._profile.ambient_c + self._rise_k[self._chip.top_nodes]

    def heater_powers_mw(self) -> dict[str, float]:
        """The power applied to every heater, including those at zero."""
        with self._lock:
            return dict(zip(self._chip.heater_ids, map(float, self._heater_mw), strict=True))

    def total_power_mw(self) -> float:
        with self._lock:
            return float(self._heater_mw.sum())

    def _catch_up(self) -> None:
        """Advance the physics to the clock's now under the powers applied until now."""
        now_s = self._clock.now_s()
        if now_s > self._time_s:
            node_w = self._chip.heater_injection @ (self._heater_mw * 1e-3)
            self._rise_k = self._chip.network.advance(self._rise_k, node_w, now_s - self._time_s)
            self._time_s = now_s
