"""Where the compact model gets the plant's physics from: one function, one plain description.

The model is derived from the plant's description (`photon_drivers.plant.chip`: the profile's
HotSpot case), discretised on a grid half as fine as the simulated chip's, then reduced by
modal truncation. Everything the reduction needs is copied here into a `PlantNetwork` of plain
arrays, and `plant_network(profile)` is the only line that knows the source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from photon_drivers.plant.chip import chip_network
from photon_drivers.profile import DeviceProfile

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PlantNetwork:
    """A linear RC network, C x' = -(L) x + E p, with how heaters and sensors attach to it.

    Temperatures are rises above ambient (K); powers entering `heater_injection` are in W.

    Attributes:
        capacitance_j_per_k: (n,) heat capacity of each node.
        conductance_w_per_k: (n, n) symmetric node-to-node conductance, zero diagonal.
        to_ambient_w_per_k: (n,) conductance of each node to ambient.
        heater_injection: (n, heaters) share of each heater's power entering each node; every
            column sums to 1.
        sensor_weights: (sensors, n) a sensor reads this weighted sum of node rises.
        heater_ids: heater order of the columns of `heater_injection`.
    """

    capacitance_j_per_k: FloatArray
    conductance_w_per_k: FloatArray
    to_ambient_w_per_k: FloatArray
    heater_injection: FloatArray
    sensor_weights: FloatArray
    heater_ids: tuple[str, ...]

    @property
    def node_count(self) -> int:
        return int(self.capacitance_j_per_k.shape[0])

    def laplacian_w_per_k(self) -> FloatArray:
        """The conductance (stiffness) matrix L = diag(G·1 + g_amb) - G, symmetric positive."""
        g = self.conductance_w_per_k
        return np.asarray(np.diag(g.sum(axis=1) + self.to_ambient_w_per_k) - g)


def model_grid(profile: DeviceProfile) -> tuple[int, int]:
    """The grid the model's network is built on: the plant's, halved in each direction.

    This is the first of the model's two reductions (the second is modal truncation): the
    same case - floorplan, stack, package - discretised twice as coarsely as the simulated
    chip, so that the model is deliberately coarser than the plant and the closed loop has a
    real model error to correct.
    """
    if profile.thermal is not None:
        rows = profile.thermal.grid_rows or chip_network(profile).top_nodes.shape[0]
        cols = profile.thermal.grid_cols or chip_network(profile).top_nodes.shape[1]
    else:
        rows, cols = profile.grid_rows, profile.grid_cols
    return max(rows // 2, 2), max(cols // 2, 2)


def plant_network(profile: DeviceProfile) -> PlantNetwork:
    """The network the model is reduced from - the one place that names its builder."""
    chip = chip_network(profile, *model_grid(profile))
    net = chip.network
    return PlantNetwork(
        capacitance_j_per_k=np.array(net.capacitance_j_per_k, dtype=np.float64),
        conductance_w_per_k=np.array(net.conductance_w_per_k, dtype=np.float64),
        to_ambient_w_per_k=np.array(net.to_ambient_w_per_k, dtype=np.float64),
        heater_injection=np.array(chip.heater_injection, dtype=np.float64),
        sensor_weights=np.array(chip.sensor_weights, dtype=np.float64),
        heater_ids=chip.heater_ids,
    )
