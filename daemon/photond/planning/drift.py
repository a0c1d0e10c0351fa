"""How far each task's drift tolerance lets its heaters' footprints move, in kelvin.

A task with `drift_tolerance_rad` > 0 has its phases set when it starts; heat it does not make
itself then shifts them by 2π·L·(dn/dT)·ΔT/λ per heater of waveguide length L. The optimiser
(`thermal_tables.drift_tables`) and the loop's re-time (`job_tables`, `retime`) both hold a
task to the ΔT this allows on each heater it drives (the rule is in docs/optimizer.md, §2).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from photon_drivers.profile import DeviceProfile
from photond.model import phase_drift_rad
from photond.planning.graph import CheckedGraph

FloatArray = NDArray[np.float64]


def drift_limits_k(
    graph: CheckedGraph, profile: DeviceProfile, heater_ids: tuple[str, ...]
) -> FloatArray | None:
    """(tasks, heaters in `heater_ids` order) footprint-temperature change each task's drift
    tolerance allows.

    At the shortest wavelength among the task's lanes (the largest phase per kelvin: the bound
    holds on any of them). inf where a task has no tolerance; None when no task has one.
    """
    tolerance = np.fromiter((t.drift_tolerance_rad for t in graph.tasks), dtype=np.float64)
    if not (tolerance > 0).any():
        return None
    length_mm = {h.id: h.waveguide_length_mm for h in profile.heaters}
    lengths = np.array([length_mm[h] for h in heater_ids])
    wavelength = {lane.id: lane.wavelength_nm for lane in profile.lanes}
    shortest_nm = np.array(
        [min(wavelength[lane] for lane in (t.allowed_lanes or wavelength)) for t in graph.tasks]
    )
    rad_per_k = phase_drift_rad(1.0, lengths[None, :], wavelength_nm=1.0) / shortest_nm[:, None]
    return np.where(tolerance[:, None] > 0, tolerance[:, None] / rad_per_k, np.inf)
