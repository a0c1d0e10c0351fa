"""The simulated chip: a Driver whose device is an RC thermal network played on a Clock.

It implements the same contract as a hardware driver and behaves like one in time: physics
does not run in a thread, it is caught up lazily and exactly to `clock.now_s()` whenever the
driver is touched, under the powers that were applied since the last touch. So a fast
`ScaledClock` or a hand-stepped `ManualClock` changes only how long one waits, never the
temperatures. Sim-only inspection (`true_temperatures_c`, `heater_powers_mw`,
`total_power_mw`) and fault injection (`fail_sensor`, `degrade_cooling`, `stick_heater`,
`step_ambient`, `set_ambient_drift`; see `sim_faults`) are kept off the Driver interface,
under their own names.

A sensor cannot be sampled faster than its `min_sample_period_s`: a read sooner than that
returns the sensor's previous value, as the firmware of a slow ADC would.

The daemon reads the chip every control period for months, so a step and a read touch only the
slow modes, in two numba kernels, and keep the settled modes' share of each sensor
(`sim.stepping`, which says why that is exact).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import numpy as np

from photon_drivers.clock import Clock, ScaledClock
from photon_drivers.interface import Driver, SensorSample, check_powers
from photon_drivers.plant.chip import chip_network
from photon_drivers.plant.rc_network import ChipNetwork, FloatArray, RCNetwork
from photon_drivers.profile import DeviceProfile, load_profile
from photon_drivers.sim.faults import FaultState, SensorFailure, SensorFault
from photon_drivers.sim.options import Disturbance, parse_sim_options
from photon_drivers.sim.stepping import SettledShare, advance_slow, read_sensors_c, warm_up

# Longest step over which a drifting ambient is held constant.
_DRIFT_CHUNK_S = 0.05


class SimulatedChipDriver(Driver):
    """A device simulated from its profile, with seeded sensor noise.

    Sensors read the top layer of the die (bilinear between grid cells, see
    `network_from_profile`) plus Gaussian noise of the sensor's `noise_c`, quantised to its
    `resolution_c`, like an ADC would.

    Args:
        profile: the device; None loads the shipped default.
        clock: device time; None runs in real time.
        seed: seeds the sensor noise, so a run can be replayed exactly.
        noise_scale: multiplies every sensor's noise.
        plant_mismatch: the plant's conductances are (1 + m) x the profile's (see `sim.options`).
        disturbances: changes applied when device time reaches each one's `at_s`.
        powers_hang: (wall seconds, from device time): the first `set_heater_powers` from
            then on blocks that long, lock held, like a hung link (see `sim.options`).
    """

    simulated = True

    def __init__(
        self,
        profile: DeviceProfile | None = None,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        noise_scale: float = 1.0,
        plant_mismatch: float = 0.0,
        disturbances: tuple[Disturbance, ...] = (),
        powers_hang: tuple[float, float] | None = None,
    ) -> None:
        self._profile = profile if profile is not None else load_profile()
        self._clock: Clock = clock if clock is not None else ScaledClock(1.0)
        self._chip = chip_network(self._profile)
        self._plant_mismatch = plant_mismatch
        self._plant = _modal_plant(self._profile, plant_mismatch, 1.0)
        if plant_mismatch:
            self._chip = dataclasses.replace(self._chip, network=self._plant.network)
        self._rng = np.random.default_rng(seed)
        sensors = self._profile.sensors
        self._noise_c = np.array([s.noise_c for s in sensors]) * noise_scale
        self._resolution_c = np.array([s.resolution_c for s in sensors])
        # The daemon's control loop and its RPC threads call in concurrently; one lock keeps
        # the catch-up, the power change and the noise stream in one consistent order.
        self._lock = threading.Lock()
        # The thermal state, in the network's modal coordinates (see _ModalPlant).
        self._modes: FloatArray = np.zeros(self._chip.network.node_count)
        self._heater_mw: FloatArray = np.zeros(len(self._chip.heater_ids))
        # The modal input of the heaters' powers as they draw them (stuck ones included):
        # rebuilt when a power or a fault changes, not at every catch-up (a 1,548 x 64 product).
        self._heater_modes: FloatArray = np.zeros(self._chip.network.node_count)
        # The modal input of the last step (heaters' plus the room's offset) and that offset:
        # the same array while neither changes, which is what keeps `_settled` valid.
        self._modal_input: FloatArray = self._heater_modes
        self._modal_input_of: FloatArray = self._heater_modes
        self._modal_offset_c = 0.0
        self._settled: SettledShare | None = None
        self._no_rise_k: FloatArray = np.zeros(len(sensors))
        self._time_s = self._clock.now_s()
        self._faults = FaultState()
        self._faults.ambient.since_s = self._time_s
        self._min_period_s = np.array([s.min_sample_period_s for s in sensors])
        self._last_read_s = np.full(len(sensors), -np.inf)
        self._last_read_c = np.full(len(sensors), np.nan)
        self._scheduled = sorted(disturbances, key=lambda d: d.at_s)
        self._opened_s = self._time_s
        self._powers_hang = powers_hang
        warm_up(len(sensors))

    @classmethod
    def open(cls, options: Mapping[str, str], clock: Clock) -> Self:
        """Build from config options (see `sim.options`: profile, seed, disturbances).

        Raises:
            ValueError: an unknown option, a value that does not parse, or a bad profile.
        """
        parsed = parse_sim_options(options)
        profile = load_profile(Path(parsed.profile)) if parsed.profile is not None else None
        return cls(
            profile,
            clock,
            seed=parsed.seed,
            noise_scale=parsed.noise_scale,
            plant_mismatch=parsed.plant_mismatch,
            disturbances=parsed.disturbances,
            powers_hang=parsed.powers_hang,
        )

    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    @property
    def clock(self) -> Clock:
        return self._clock

    def read_sensors(self) -> SensorSample:
        with self._lock:
            self._catch_up()
            settled = self._settled
            if settled is not None and settled.modal_input is self._modal_input:
                # The modes are where the last step, under this input, left them.
                readout, settled_rise_k = settled.slow_readout, settled.sensor_rise_k
            else:  # no step since the plant was built or changed: read every mode
                readout, settled_rise_k = self._plant.sensor_from_modes, self._no_rise_k
            out_c = read_sensors_c(
                readout,
                self._modes,
                settled_rise_k,
                self._profile.ambient_c,
                self._rng.normal(0.0, 1.0, self._noise_c.shape),
                self._noise_c,
                self._resolution_c,
                self._time_s,
                self._min_period_s,
                self._last_read_s,
                self._last_read_c,
            )
            for index, fault in self._faults.sensors.items():
                out_c[index] = fault.reading_c()
            return SensorSample(self._time_s, tuple(out_c.tolist()))

    def set_heater_powers(self, powers_mw: Mapping[str, float]) -> None:
        check_powers(self._profile, powers_mw)
        heater_mw = np.array([float(powers_mw.get(h, 0.0)) for h in self._chip.heater_ids])
        with self._lock:
            self._catch_up()
            hang = self._powers_hang
            if hang is not None and self._time_s - self._opened_s >= hang[1]:
                self._powers_hang = None
                time.sleep(hang[0])  # wall time: a hung link does not run on device time
                self._catch_up()
            self._heater_mw = heater_mw
            self._heater_input_changed()

    def safe_state(self) -> None:
        with self._lock:
            self._catch_up()
            self._heater_mw = np.zeros_like(self._heater_mw)
            self._heater_input_changed()

    def ping(self) -> None:
        """A simulated device always answers."""

    def close(self) -> None:
        self.safe_state()

    # Sim-only: what no real device can tell, for tests and benchmarks.

    def true_temperatures_c(self) -> FloatArray:
        """Noise-free temperature of each top-layer grid cell now, shape (rows, cols)."""
        with self._lock:
            self._catch_up()
            top_c = self._profile.ambient_c + self._plant.top_from_modes @ self._modes
            return top_c.reshape(self._chip.top_nodes.shape)

    def heater_powers_mw(self) -> dict[str, float]:
        """The power applied to every heater, including those at zero."""
        with self._lock:
            return dict(zip(self._chip.heater_ids, map(float, self._heater_mw), strict=True))

    def total_power_mw(self) -> float:
        with self._lock:
            return float(self._heater_mw.sum())

    def _catch_up(self) -> None:
        """Advance the physics to the clock's now, applying scheduled disturbances on time."""
        now_s = self._clock.now_s()
        while self._scheduled and self._opened_s + self._scheduled[0].at_s <= now_s:
            disturbance = self._scheduled.pop(0)
            self._advance(self._opened_s + disturbance.at_s)
            disturbance.apply(self)
        self._advance(now_s)

    def _advance(self, now_s: float) -> None:
        """Advance the physics to `now_s` under the powers applied until now."""
        if now_s > self._time_s:
            ambient = self._faults.ambient
            # Temperatures are rises above the nominal ambient; an ambient offset enters as the
            # heat g_amb * offset flowing in through every path to ambient. A drifting offset
            # is held at each chunk's midpoint, in chunks short against every package time
            # constant (the daemon's loop catches up every few ms anyway).
            chunk_s = _DRIFT_CHUNK_S if ambient.drift_c_per_s else now_s - self._time_s
            while self._time_s < now_s:
                dt_s = min(chunk_s, now_s - self._time_s)
                offset_c = ambient.offset_at_c(self._time_s + 0.5 * dt_s)
                modal_w = self._modal_input_for(offset_c)
                settled = self._settled_share(modal_w, dt_s)
                rates_per_s = self._plant.network.rates_per_s
                advance_slow(self._modes, modal_w, rates_per_s, dt_s, settled.slow)
                self._time_s = now_s if dt_s == now_s - self._time_s else self._time_s + dt_s

    def _modal_input_for(self, offset_c: float) -> FloatArray:
        """The modal input of the heaters and a room offset of `offset_c`: the last one's very
        array while neither changed."""
        if offset_c != self._modal_offset_c or self._modal_input_of is not self._heater_modes:
            if offset_c == 0.0:
                self._modal_input = self._heater_modes
            else:
                self._modal_input = self._heater_modes + self._plant.ambient_to_modes * offset_c
            self._modal_input_of = self._heater_modes
            self._modal_offset_c = offset_c
        return self._modal_input

    def _settled_share(self, modal_input: FloatArray, dt_s: float) -> SettledShare:
        """The settled share for a step of `dt_s` under `modal_input` (built anew when the one
        kept does not hold: see `stepping`)."""
        settled = self._settled
        if settled is None or not settled.holds_for(modal_input, dt_s):
            settled = self._settled = SettledShare(
                self._modes,
                modal_input,
                self._plant.network.rates_per_s,
                self._plant.sensor_from_modes,
                dt_s,
            )
        return settled

    def _heater_input_changed(self) -> None:
        """Rebuild the heaters' modal input after a power, a stuck heater or the plant changed."""
        heater_mw = self._heater_mw.copy()
        for index, power_mw in self._faults.stuck_heaters_mw.items():
            heater_mw[index] = power_mw
        self._heater_modes = self._plant.heater_to_modes @ heater_mw

    def ambient_c(self) -> float:
        """The room's temperature now (nominal plus any injected step or drift)."""
        with self._lock:
            self._catch_up()
            return self._profile.ambient_c + self._faults.ambient.offset_at_c(self._time_s)

    # Sim-only fault injection (see sim_faults): for tests, benchmarks and the emulator.

    def fail_sensor(self, sensor_id: str, failure: SensorFailure) -> None:
        """From now on the sensor misbehaves as `failure` says."""
        with self._lock:
            self._catch_up()
            self.fail_sensor_locked(sensor_id, failure)

    def fail_sensor_locked(self, sensor_id: str, failure: SensorFailure) -> None:
        index = self._sensor_index(sensor_id)
        held_c = float(self._profile.ambient_c + self._plant.sensor_from_modes[index] @ self._modes)
        self._faults.sensors[index] = SensorFault(failure, held_c)

    def repair_sensor(self, sensor_id: str) -> None:
        with self._lock:
            self._faults.sensors.pop(self._sensor_index(sensor_id), None)

    def degrade_cooling(self, factor: float) -> None:
        """Multiply every resistance to ambient (package, sink, air) by `factor`; 1 restores."""
        if not (math.isfinite(factor) and factor >= 1.0):
            raise ValueError(f"cooling degradation factor must be >= 1, got {factor}")
        with self._lock:
            self._catch_up()
            self.degrade_cooling_locked(factor)

    def degrade_cooling_locked(self, factor: float) -> None:
        rise_k = self._plant.network.from_modes(self._modes)
        self._plant = _modal_plant(self._profile, self._plant_mismatch, factor)
        self._modes = self._plant.network.to_modes(rise_k)
        self._settled = None  # another plant: other modes, other rates
        self._faults.cooling_factor = factor
        self._heater_input_changed()

    def stick_heater(self, heater_id: str, power_mw: float | None) -> None:
        """Hold a heater at `power_mw` whatever is commanded (None releases it)."""
        with self._lock:
            self._catch_up()
            self.stick_heater_locked(heater_id, power_mw)

    def stick_heater_locked(self, heater_id: str, power_mw: float | None) -> None:
        index = self._heater_index(heater_id)
        if power_mw is None:
            self._faults.stuck_heaters_mw.pop(index, None)
        else:
            if not (math.isfinite(power_mw) and power_mw >= 0):
                raise ValueError(f"stuck heater power must be >= 0 mW, got {power_mw}")
            self._faults.stuck_heaters_mw[index] = power_mw
        self._heater_input_changed()

    def step_ambient(self, delta_c: float) -> None:
        """The room's temperature jumps by `delta_c` now."""
        with self._lock:
            self._catch_up()
            self.step_ambient_locked(delta_c)

    def step_ambient_locked(self, delta_c: float) -> None:
        self._faults.ambient.rebase(self._time_s)
        self._faults.ambient.offset_c += delta_c

    def set_ambient_drift(self, rate_c_per_s: float) -> None:
        """The room's temperature moves by `rate_c_per_s` from now on (0 stops the drift)."""
        with self._lock:
            self._catch_up()
            self.drift_ambient_locked(rate_c_per_s)

    def drift_ambient_locked(self, rate_c_per_s: float) -> None:
        self._faults.ambient.rebase(self._time_s)
        self._faults.ambient.drift_c_per_s = rate_c_per_s

    def _sensor_index(self, sensor_id: str) -> int:
        for index, sensor in enumerate(self._profile.sensors):
            if sensor.id == sensor_id:
                return index
        raise ValueError(f"unknown sensor {sensor_id!r}")

    def _heater_index(self, heater_id: str) -> int:
        try:
            return self._chip.heater_ids.index(heater_id)
        except ValueError:
            raise ValueError(f"unknown heater {heater_id!r}") from None


@functools.lru_cache(maxsize=4)
def _modal_plant(profile: DeviceProfile, mismatch: float, cooling_factor: float) -> _ModalPlant:
    """The profile's plant with every conductance x (1 + `mismatch`), then every conductance
    to ambient / `cooling_factor` (the options `plant_mismatch` and `cooling_factor`), folded
    into modal coordinates.

    Cached per process: building a network decomposes it (the default chip's 1,548-node
    eigenproblem, ~0.6 s of CPU and several seconds on a loaded 2-core machine) and folding
    it is three products with its 1,548 x 1,548 modes; a benchmark that opens hundreds of
    chips under a few disturbances (benchmarks/comparative.py) paid both at every chip. Chips
    share one: a plant is not changed by its users (its network's cache of the last step's
    decay is replaced whole, never edited).
    """
    chip = chip_network(profile)
    base = chip.network
    if mismatch == 0.0 and cooling_factor == 1.0:
        return _ModalPlant(base, chip)
    factor = 1.0 + mismatch
    network = RCNetwork(
        base.capacitance_j_per_k,
        base.sparse_conductance_w_per_k * factor if mismatch else base.sparse_conductance_w_per_k,
        base.to_ambient_w_per_k * factor / cooling_factor
        if mismatch
        else base.to_ambient_w_per_k / cooling_factor,
    )
    return _ModalPlant(network, chip)


class _ModalPlant:
    """The network with its inputs and readouts folded into modal coordinates.

    Keeping the state as modes makes a catch-up O(nodes) instead of two dense products per
    step, which is what lets the loop sample a 1,500-node plant every few milliseconds.
    """

    def __init__(self, network: RCNetwork, chip: ChipNetwork) -> None:
        self.network = network
        # Per mW of each heater, and per kelvin of ambient offset.
        self.heater_to_modes = network.power_to_modes @ chip.heater_injection * 1e-3
        self.ambient_to_modes = network.power_to_modes @ network.to_ambient_w_per_k
        self.sensor_from_modes = chip.sensor_weights @ network.modes_to_state
        self.top_from_modes = network.modes_to_state[chip.top_nodes.ravel()]
