"""The compact thermal model the scheduler predicts with: a few slow modes of the plant, exact.

The plant is C x' = -L x + E p over every node of the die and package. The model keeps only the
r slowest of its modes and treats the others as instantaneous:

* Symmetric coordinates. With M = C^-1/2 L C^-1/2 = V diag(λ) V^T (eigh; λ > 0 ascending), the
  modal amplitudes z = V^T C^1/2 x decouple: z_i' = -λ_i z_i + (V^T C^-1/2 E p)_i.
* Truncation. Keep the r smallest λ (longest time constants): A = -diag(λ_r),
  B = V_r^T C^-1/2 E (per mW), sensors y = C_y z with C_y = W C^-1/2 V_r.
* Static correction (residualisation). The discarded modes settle within a fraction of a
  control period, so they are replaced by their steady state: y = C_y z + D p with
  D = W L^-1 E - C_y diag(1/λ_r) B, the steady gain of the discarded modes. The DC gain is then
  exact (steady_state_c equals the plant's to rounding); the error is transient only — the
  discarded modes' own decay, which the benchmark `benchmarks/model_error.py` measures.
* Exact discretisation for zero-order-hold power over the control period dt:
  z[k+1] = a ⊙ z[k] + b p[k], a = exp(-λ dt), b = diag((1 - a)/λ) B (no integration error);
  the sensors at the end of step k read y[k] = C_y z[k+1] + D p[k].

Why r = 16 by default, at dt = 10 ms: on the default profile the package mode has τ ≈ 6.4 s and
the die's lateral modes τ ≤ 2.6 ms. Modes with exp(-dt/τ) above ~1e-3 (τ ≥ 1.45 ms, 14 of them
at 10 ms) still carry a visible fraction of a power change into the next sample; 16 keeps those
and is a multiple of the 4-wide float64 vectors the kernels run on. Everything faster is exact
at steady state through D and at most ~1e-3 of its share wrong one period after a change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from photon_drivers.profile import DeviceProfile
from photond.model.network import PlantNetwork, plant_network
from photond.model.zones import zone_to_heater_matrix

FloatArray = NDArray[np.float64]
# Where a model is read: the sensors (what can be measured), the heaters' footprints (the hot
# spots no sensor sees), or the limit points, where the limits are enforced: every footprint,
# then every sensor, in profile order (docs/architecture.md, "Where the limits are enforced").
Readout = Literal["sensors", "heaters", "limits"]
InputSpace = Literal["heaters", "zones"]

DEFAULT_MODES = 16
# The daemon's default control period (`DaemonConfig.control_period_s`).
DEFAULT_DT_S = 0.01


@dataclass(frozen=True)
class ModelState:
    """Where the model is between control periods: what a state estimator tracks.

    Attributes:
        x: (modes,) amplitudes of the kept modes (K·sqrt(J/K)); zero is the device at ambient.
        power_mw: (heaters,) the power held over the period that just ended; the residualised
            fast modes sit at their steady state under it, so readouts need it.
    """

    x: FloatArray
    power_mw: FloatArray


@dataclass(frozen=True)
class _Readout:
    out: FloatArray  # (outputs, modes)
    feedthrough: FloatArray  # (outputs, heaters), K/mW


class CompactModel:
    """A reduced, exactly discretised LTI model of a device, built from its plant network.

    Build with `from_profile`; the constructor takes an already described network.

    Args:
        network: the plant's RC network and its heater/sensor attachment.
        modes: how many of the slowest modes to keep (1 ≤ modes ≤ nodes).
        dt_s: the control period the model is discretised for.
        ambient_c: temperature of zero rise.
        zone_matrix: (heaters, zones) zone-to-heater power split (see `zones`).

    Raises:
        ValueError: `modes` or `dt_s` out of range, or the network has a node with no path to
            ambient.
    """

    def __init__(
        self,
        network: PlantNetwork,
        *,
        modes: int = DEFAULT_MODES,
        dt_s: float = DEFAULT_DT_S,
        ambient_c: float = 25.0,
        zone_matrix: FloatArray | None = None,
    ) -> None:
        n = network.node_count
        if not 1 <= modes <= n:
            raise ValueError(f"modes must be in [1, {n}], got {modes}")
        if not (np.isfinite(dt_s) and dt_s > 0):
            raise ValueError(f"dt_s must be finite and positive, got {dt_s}")
        laplacian = network.laplacian_w_per_k()
        inv_sqrt_c = 1.0 / np.sqrt(network.capacitance_j_per_k)
        rates, vectors = np.linalg.eigh(inv_sqrt_c[:, None] * laplacian * inv_sqrt_c[None, :])
        if rates[0] <= 0 or rates[0] <= rates[-1] * 1e-13:
            raise ValueError("some node has no conductive path to ambient")
        kept = vectors[:, :modes]
        self.rates_per_s: FloatArray = rates[:modes].copy()
        self.dt_s = float(dt_s)
        self.ambient_c = float(ambient_c)
        self.heater_ids = network.heater_ids
        # z = V_r^T C^1/2 x: projects a full plant state onto the kept modes.
        self.node_to_modes: FloatArray = kept.T * np.sqrt(network.capacitance_j_per_k)[None, :]
        injection_per_mw = network.heater_injection * 1e-3
        self.input_per_mw: FloatArray = (kept.T * inv_sqrt_c[None, :]) @ injection_per_mw
        modes_to_nodes = inv_sqrt_c[:, None] * kept
        full_gain_k_per_mw = np.linalg.solve(laplacian, injection_per_mw)  # (nodes, heaters)
        kept_gain = modes_to_nodes @ (self.input_per_mw / self.rates_per_s[:, None])
        residual_k_per_mw = full_gain_k_per_mw - kept_gain
        # A heater reads its footprint: the injection-weighted mean of the nodes it heats.
        sensors = _Readout(
            network.sensor_weights @ modes_to_nodes, network.sensor_weights @ residual_k_per_mw
        )
        footprints = _Readout(
            network.heater_injection.T @ modes_to_nodes,
            network.heater_injection.T @ residual_k_per_mw,
        )
        self._readouts: dict[Readout, _Readout] = {
            "sensors": sensors,
            "heaters": footprints,
            "limits": _Readout(
                np.vstack([footprints.out, sensors.out]),
                np.vstack([footprints.feedthrough, sensors.feedthrough]),
            ),
        }
        self.decay: FloatArray = np.exp(-self.rates_per_s * self.dt_s)
        self.step_input_per_mw: FloatArray = (
            -np.expm1(-self.rates_per_s * self.dt_s) / self.rates_per_s
        )[:, None] * self.input_per_mw
        heaters = len(network.heater_ids)
        self.zone_matrix: FloatArray = (
            zone_matrix if zone_matrix is not None else np.zeros((heaters, 0))
        )

    @classmethod
    def from_profile(
        cls, profile: DeviceProfile, *, modes: int = DEFAULT_MODES, dt_s: float = DEFAULT_DT_S
    ) -> CompactModel:
        """Derive the model of `profile`'s plant, keeping `modes` modes, for period `dt_s`."""
        return cls(
            plant_network(profile),
            modes=modes,
            dt_s=dt_s,
            ambient_c=profile.ambient_c,
            zone_matrix=zone_to_heater_matrix(profile),
        )

    @property
    def modes(self) -> int:
        return int(self.rates_per_s.shape[0])

    @property
    def time_constants_s(self) -> FloatArray:
        """The kept modes' time constants, longest first."""
        return np.asarray(1.0 / self.rates_per_s)

    def output_matrices(self, at: Readout = "sensors") -> tuple[FloatArray, FloatArray]:
        """(C, D) of y = C x + D p for `at`: rise in K from modes and from power in mW."""
        readout = self._readouts[at]
        return readout.out, readout.feedthrough

    def input_matrix(self, space: InputSpace = "heaters") -> FloatArray:
        """(heaters, inputs): heater powers from an input vector in `space`."""
        if space == "heaters":
            return np.eye(len(self.heater_ids))
        return self.zone_matrix

    def initial_state(self) -> ModelState:
        """The device at ambient with every heater off."""
        return ModelState(np.zeros(self.modes), np.zeros(len(self.heater_ids)))

    def steady_state(self, power_mw: ArrayLike) -> ModelState:
        """The state the device settles to under constant heater powers."""
        p = self._heater_vector(power_mw)
        return ModelState(self.input_per_mw @ p / self.rates_per_s, p)

    def state_from_node_rise(self, rise_k: ArrayLike, power_mw: ArrayLike) -> ModelState:
        """Project a full plant state (node rises, K) onto the kept modes."""
        return ModelState(
            self.node_to_modes @ np.asarray(rise_k, dtype=np.float64),
            self._heater_vector(power_mw),
        )

    def steady_state_c(self, power_mw: ArrayLike, at: Readout = "sensors") -> FloatArray:
        """Temperatures (°C) the sensors (or heaters) settle to under constant heater powers."""
        return self.read_c(self.steady_state(power_mw), at)

    def read_c(self, state: ModelState, at: Readout = "sensors") -> FloatArray:
        """Temperatures (°C) at the sensors (or heater footprints) in `state`."""
        out, feedthrough = self.output_matrices(at)
        return np.asarray(self.ambient_c + out @ state.x + feedthrough @ state.power_mw)

    def advance(self, state: ModelState, power_mw: ArrayLike) -> ModelState:
        """The state one control period later, the heaters held at `power_mw` throughout."""
        p = self._heater_vector(power_mw)
        return ModelState(self.decay * state.x + self.step_input_per_mw @ p, p)

    def simulate(
        self,
        schedule: ArrayLike,
        state: ModelState | None = None,
        *,
        space: InputSpace = "heaters",
        at: Readout = "sensors",
    ) -> FloatArray:
        """Play a power schedule, one row per control period; return (steps, outputs) in °C.

        Row k of the result is read at the end of period k, after `schedule[k]` was held for
        the whole period. `space="zones"` takes rows of zone powers.
        """
        rows = np.asarray(schedule, dtype=np.float64) @ self.input_matrix(space).T
        if rows.ndim != 2 or rows.shape[1] != len(self.heater_ids):
            raise ValueError(f"schedule must be (steps, {space}), got {np.shape(schedule)}")
        state = state if state is not None else self.initial_state()
        out, feedthrough = self.output_matrices(at)
        x = state.x.copy()
        trace = np.empty((rows.shape[0], out.shape[0]))
        for k, p in enumerate(rows):
            x = self.decay * x + self.step_input_per_mw @ p
            trace[k] = out @ x + feedthrough @ p
        return np.asarray(self.ambient_c + trace)

    def step_response(
        self, steps: int, *, space: InputSpace = "heaters", at: Readout = "sensors"
    ) -> FloatArray:
        """Rise per mW, (steps, outputs, inputs): entry k is the rise at the end of period k
        after input j was switched from 0 to 1 mW at the start of period 0, from ambient.

        By linearity, any schedule's rise is the superposition of these responses to its
        increments; that is how the planner predicts.
        """
        out, feedthrough = self.output_matrices(at)
        inputs = self.input_matrix(space)
        k = np.arange(1, steps + 1)[:, None]
        # Σ_{j<k} a^j (1 - a)/λ = (1 - a^k)/λ for each mode: exact, no accumulation error.
        filled = -np.expm1(-self.rates_per_s[None, :] * self.dt_s * k) / self.rates_per_s
        modal = filled[:, :, None] * (self.input_per_mw @ inputs)[None, :, :]
        return np.asarray(np.einsum("or,krm->kom", out, modal) + (feedthrough @ inputs)[None])

    def _heater_vector(self, power_mw: ArrayLike) -> FloatArray:
        p = np.asarray(power_mw, dtype=np.float64)
        if p.shape != (len(self.heater_ids),):
            raise ValueError(f"power_mw must have shape ({len(self.heater_ids)},), got {p.shape}")
        return p


@functools.lru_cache(maxsize=8)
def compact_model(profile: DeviceProfile, dt_s: float = DEFAULT_DT_S) -> CompactModel:
    """`CompactModel.from_profile(profile, dt_s=dt_s)` with the default modes, built once per
    profile and period (an eigenproblem over every plant node)."""
    return CompactModel.from_profile(profile, dt_s=dt_s)
