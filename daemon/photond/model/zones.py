"""Map zone powers to heater powers, the way the daemon resolves a task's zone powers.

A task may give its power per zone; `photond.rpc.validation` splits each zone's power evenly among
the zone's heaters (adding to any power a heater gets from another zone or directly). Doing the
same split here as a matrix lets schedules be written, and evaluated by the kernels, in zone
space: heater_mw = Z @ zone_mw.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from photon_drivers.profile import DeviceProfile

FloatArray = NDArray[np.float64]


def zone_to_heater_matrix(profile: DeviceProfile) -> FloatArray:
    """Return Z, shape (heaters, zones): Z[h, z] = 1/len(zone z) if heater h is in zone z.

    Heaters follow `profile.heaters`, zones follow `profile.zones`. A heater named in two zones
    receives both shares, as the validator adds them.
    """
    index = {h.id: i for i, h in enumerate(profile.heaters)}
    matrix = np.zeros((len(profile.heaters), len(profile.zones)))
    for z, zone in enumerate(profile.zones):
        share = 1.0 / len(zone.heater_ids)
        for heater_id in zone.heater_ids:
            matrix[index[heater_id], z] += share
    return matrix


def zone_schedule_to_heaters(profile: DeviceProfile, zone_mw: NDArray[np.float64]) -> FloatArray:
    """Turn a (..., zones) power array into the (..., heaters) array the heaters receive."""
    z = zone_to_heater_matrix(profile)
    zone_mw = np.asarray(zone_mw, dtype=np.float64)
    if zone_mw.shape[-1] != z.shape[1]:
        raise ValueError(f"last axis must have {z.shape[1]} zones, got shape {zone_mw.shape}")
    return np.asarray(zone_mw @ z.T)
