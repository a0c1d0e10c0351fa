"""Figures of merit from a temperature trace: aging, phase drift and thermal gradient.

Each is a plain, recomputable formula (DESIGN §2), so a number in a plan or a dashboard can be
checked by hand:

* Arrhenius aging. Wear-out that is thermally activated runs faster by the acceleration factor
  AF(T) = exp(Ea/k_B · (1/T_ref - 1/T)) (temperatures in kelvin). A trace sampled every dt ages
  the device by Σ AF(T_k)·dt equivalent hours at T_ref. The default Ea = 0.7 eV is the typical
  value JEDEC JEP122 ("Failure Mechanisms and Models for Semiconductor Devices") lists for
  thermally activated mechanisms when the mechanism is not known — a documented default, not a
  measurement of this chip. T_ref defaults to 25 °C, the default ambient: an hour at ambient
  counts one hour.
* Phase drift. A waveguide of length L heated by ΔT shifts phase by 2π·L·(dn/dT)·ΔT/λ, with
  dn/dT = 1.86e-4 /K (silicon at 1550 nm) and λ = 1550 nm by default. ΔT is the change of the
  heater's own footprint temperature from a reference (when the phase was calibrated), read
  from the compact model's heater readout (`CompactModel.read_c(state, "heaters")`: the mean of
  the plant nodes the heater heats, weighted as it heats them) — not the nearest sensor, which
  sits ~0.9 mm away on the default profile and misses the heater-local rise.
* Peak gradient. |T_i - T_j| / d_ij in °C/mm over neighbouring sensors. Neighbours are the
  pairs of the sensors' Gabriel graph: i and j are neighbours when no third sensor lies in or on
  the circle with diameter ij. On the default 4 x 4 grid that is the 24 row/column-adjacent
  pairs (diagonals have the other two corners on their circle); it works for any layout. It is
  the mean gradient along each segment, so a lower bound of the local peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from photon_drivers.profile import DeviceProfile

FloatArray = NDArray[np.float64]

BOLTZMANN_EV_PER_K = 8.617333262e-5
KELVIN_OFFSET = 273.15
DEFAULT_ACTIVATION_ENERGY_EV = 0.7
DEFAULT_REFERENCE_TEMPERATURE_C = 25.0
SILICON_DN_DT_PER_K = 1.86e-4
DEFAULT_WAVELENGTH_NM = 1550.0


def arrhenius_factor(
    temperature_c: ArrayLike,
    *,
    activation_energy_ev: float = DEFAULT_ACTIVATION_ENERGY_EV,
    reference_c: float = DEFAULT_REFERENCE_TEMPERATURE_C,
) -> FloatArray:
    """How many times faster than at `reference_c` the device ages at `temperature_c`."""
    t_k = np.asarray(temperature_c, dtype=np.float64) + KELVIN_OFFSET
    t_ref_k = reference_c + KELVIN_OFFSET
    return np.asarray(np.exp(activation_energy_ev / BOLTZMANN_EV_PER_K * (1 / t_ref_k - 1 / t_k)))


def equivalent_aging_hours(
    trace_c: ArrayLike,
    dt_s: float,
    *,
    activation_energy_ev: float = DEFAULT_ACTIVATION_ENERGY_EV,
    reference_c: float = DEFAULT_REFERENCE_TEMPERATURE_C,
) -> FloatArray:
    """Hours at `reference_c` equivalent to a trace sampled every `dt_s`.

    Args:
        trace_c: (steps, ...) temperatures; each step stands for `dt_s` seconds.

    Returns:
        shape trace_c.shape[1:]: equivalent hours per point (e.g. per sensor). Take the max to
        age the device by its hottest point.
    """
    factor = arrhenius_factor(
        trace_c, activation_energy_ev=activation_energy_ev, reference_c=reference_c
    )
    return np.asarray(factor.sum(axis=0) * dt_s / 3600.0)


def phase_drift_rad(
    delta_t_k: ArrayLike,
    waveguide_length_mm: ArrayLike,
    *,
    wavelength_nm: float = DEFAULT_WAVELENGTH_NM,
    dn_dt_per_k: float = SILICON_DN_DT_PER_K,
) -> FloatArray:
    """Thermo-optic phase shift 2π·L·(dn/dT)·ΔT/λ of waveguides of length L heated by ΔT."""
    length_m = np.asarray(waveguide_length_mm, dtype=np.float64) * 1e-3
    delta = np.asarray(delta_t_k, dtype=np.float64)
    return np.asarray(2 * math.pi * length_m * dn_dt_per_k * delta / (wavelength_nm * 1e-9))


def heater_phase_drift_rad(
    profile: DeviceProfile,
    heater_trace_c: ArrayLike,
    reference_c: ArrayLike,
    *,
    wavelength_nm: float = DEFAULT_WAVELENGTH_NM,
) -> FloatArray:
    """Phase drift per heater (..., heaters) of a heater-temperature trace from its reference.

    `heater_trace_c` comes from the compact model's heater readout; `reference_c` is each
    heater's temperature when its phase was set.
    """
    lengths = np.array([h.waveguide_length_mm for h in profile.heaters])
    delta = np.asarray(heater_trace_c, dtype=np.float64) - np.asarray(reference_c)
    return phase_drift_rad(delta, lengths, wavelength_nm=wavelength_nm)


@dataclass(frozen=True)
class SensorPairs:
    """Neighbouring sensor pairs: indices `first[q]`, `second[q]`, `distance_mm[q]` apart."""

    first: NDArray[np.int64]
    second: NDArray[np.int64]
    distance_mm: FloatArray


def neighbour_pairs(x_mm: ArrayLike, y_mm: ArrayLike) -> SensorPairs:
    """The Gabriel-graph pairs of points: no third point in or on their diameter circle."""
    pts = np.column_stack([np.asarray(x_mm, np.float64), np.asarray(y_mm, np.float64)])
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=-1)
    first, second = [], []
    n = len(pts)
    for i in range(n):
        for j in range(i + 1, n):
            others = np.ones(n, dtype=bool)
            others[[i, j]] = False
            # k lies in or on the circle with diameter ij iff d_ik² + d_jk² <= d_ij².
            blocked = d2[i, others] + d2[j, others] <= d2[i, j] * (1 + 1e-9)
            if d2[i, j] > 0 and not blocked.any():
                first.append(i)
                second.append(j)
    f, s = np.array(first, dtype=np.int64), np.array(second, dtype=np.int64)
    return SensorPairs(f, s, np.sqrt(d2[f, s]))


def sensor_pairs(profile: DeviceProfile) -> SensorPairs:
    """Neighbouring pairs of the profile's sensors (see the module docstring)."""
    return neighbour_pairs([s.x_mm for s in profile.sensors], [s.y_mm for s in profile.sensors])


def limit_point_pairs(profile: DeviceProfile) -> SensorPairs:
    """The sensor pairs indexed into the limit points (every heater's footprint, then every
    sensor: `compact.Readout`), where the gradient limit is enforced."""
    pairs = sensor_pairs(profile)
    offset = len(profile.heaters)
    return SensorPairs(pairs.first + offset, pairs.second + offset, pairs.distance_mm)


def gradients_c_per_mm(temperature_c: ArrayLike, pairs: SensorPairs) -> FloatArray:
    """|T_i - T_j| / d_ij for every pair, shape (..., pairs), from (..., sensors) temperatures."""
    t = np.asarray(temperature_c, dtype=np.float64)
    return np.asarray(np.abs(t[..., pairs.first] - t[..., pairs.second]) / pairs.distance_mm)


def peak_gradient_c_per_mm(temperature_c: ArrayLike, pairs: SensorPairs) -> float:
    """The largest neighbour gradient anywhere in a (..., sensors) field or trace."""
    g = gradients_c_per_mm(temperature_c, pairs)
    return float(g.max()) if g.size else 0.0
