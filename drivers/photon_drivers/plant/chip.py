"""The plant of a device profile: the one place that turns a profile into its RC network.

A profile describes its chip either in HotSpot's formats (`[thermal]`: config, floorplan,
layer file — what a lab's thermal engineers already have) or, for a quick sketch, as a TOML
layer stack with a lumped package. Either way the result is a `ChipNetwork`: an `RCNetwork`
integrated exactly, and how heaters inject into it and sensors read it. The HotSpot path builds
HotSpot's grid model (validated against HotSpot itself by tests/test_hotspot_reference.py)
with the spreader, sink and package ring; its block model has no place for sensors between
blocks, so a device uses the grid model.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from photon_drivers.plant.case_summary import grid_shape, load_grid_case
from photon_drivers.plant.hotspot import ThermalCase, build_network
from photon_drivers.plant.rc_network import (
    ChipNetwork,
    RCNetwork,
    bilinear,
    network_from_profile,
)
from photon_drivers.profile import DeviceProfile, ThermalSource


def load_hotspot_case(
    source: ThermalSource, grid_rows: int | None = None, grid_cols: int | None = None
) -> ThermalCase:
    """The case at the profile's grid (or an explicit one, e.g. coarser for the model)."""
    return load_grid_case(
        source.config,
        source.floorplan,
        source.layers,
        grid_rows or source.grid_rows,
        grid_cols or source.grid_cols,
    )


@functools.lru_cache(maxsize=8)
def chip_network(
    profile: DeviceProfile, grid_rows: int | None = None, grid_cols: int | None = None
) -> ChipNetwork:
    """Build the profile's plant, optionally at another grid resolution than its own.

    Cached: building means an eigendecomposition of the whole network (about a second for the
    default chip), and every simulated chip of the same profile shares the same immutable
    network.
    """
    if profile.thermal is None:
        if grid_rows or grid_cols:
            profile = dataclasses.replace(
                profile,
                grid_rows=grid_rows or profile.grid_rows,
                grid_cols=grid_cols or profile.grid_cols,
            )
        return network_from_profile(profile)
    case = load_hotspot_case(profile.thermal, grid_rows, grid_cols)
    network = build_network(case, "grid")
    _, rows, cols = grid_shape(network.grid_shape)
    # The plant's grid counts rows from the top edge; profiles and sensors from the bottom.
    power_layer = next(i for i, layer in enumerate(case.layers) if layer.has_power)
    top = power_layer * rows * cols + np.arange(rows * cols).reshape(rows, cols)[::-1, :]
    blocks = {name: j for j, name in enumerate(network.block_names)}
    injection = network.power_injection.tocsc()
    heater_injection = np.column_stack(
        [injection[:, blocks[h.id]].toarray().ravel() for h in profile.heaters]
    )
    n = len(network.node_names)
    weights = np.zeros((len(profile.sensors), n))
    pitch_x_mm, pitch_y_mm = profile.die_width_mm / cols, profile.die_height_mm / rows
    for s, sensor in enumerate(profile.sensors):
        for row, wy in bilinear(sensor.y_mm, pitch_y_mm, rows):
            for col, wx in bilinear(sensor.x_mm, pitch_x_mm, cols):
                weights[s, top[row, col]] += wy * wx
    return ChipNetwork(
        network=RCNetwork(
            network.capacitance_j_per_k,
            network.conductance_w_per_k,
            network.to_ambient_w_per_k,
        ),
        heater_ids=tuple(h.id for h in profile.heaters),
        heater_injection=heater_injection,
        sensor_weights=weights,
        top_nodes=top,
    )
