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
from dataclasses import dataclass

import numpy as np

from photon_drivers.plant.hotspot import (
    Floorplan,
    ThermalCase,
    build_network,
    load_case,
    steady_state,
)
from photon_drivers.plant.rc_network import (
    ChipNetwork,
    FloatArray,
    RCNetwork,
    bilinear,
    network_from_profile,
)
from photon_drivers.profile import DeviceProfile, LayerSpec, PackageSpec, ThermalSource


@dataclass(frozen=True)
class HotSpotSummary:
    """What the profile needs to know of a HotSpot case to describe the device."""

    die_width_mm: float
    die_height_mm: float
    block_names: frozenset[str]
    layers: tuple[LayerSpec, ...]
    package: PackageSpec


def load_hotspot_case(
    source: ThermalSource, grid_rows: int | None = None, grid_cols: int | None = None
) -> ThermalCase:
    """The case at the profile's grid (or an explicit one, e.g. coarser for the model)."""
    case = load_case(source.config, source.floorplan, source.layers, model="grid")
    rows = grid_rows or source.grid_rows or case.grid_rows
    cols = grid_cols or source.grid_cols or case.grid_cols
    return dataclasses.replace(case, grid_rows=rows, grid_cols=cols)


@functools.lru_cache(maxsize=8)
def hotspot_summary(source: ThermalSource) -> HotSpotSummary:
    """Die size, blocks, layers and the package's lumped figures of a HotSpot case.

    The die-to-ambient resistance is measured, not typed in: 1 W spread over the power layer
    in proportion to area, divided into the mean temperature rise of that layer. The package
    heat capacity is the sum over every node below the die (spreader, sink, ring).
    """
    case = load_hotspot_case(source)
    network = build_network(case, "grid")
    die = case.floorplan
    power_w = np.array([b.width_m * b.height_m for b in die.blocks])
    power_w /= power_w.sum()
    _, rows, cols = _grid_shape(network.grid_shape)
    cells = rows * cols
    rise_k = steady_state(network, _power_by_block(network.block_names, die, power_w))
    power_layer = next(i for i, layer in enumerate(case.layers) if layer.has_power)
    top_rise_k = rise_k[power_layer * cells : (power_layer + 1) * cells] - network.ambient_k
    die_nodes = len(case.layers) * cells
    return HotSpotSummary(
        die_width_mm=die.width_m * 1e3,
        die_height_mm=die.height_m * 1e3,
        block_names=frozenset(network.block_names),
        layers=tuple(
            LayerSpec(
                name=layer.prefix.rstrip("_") or f"layer {i}",
                thickness_mm=layer.thickness_m * 1e3,
                conductivity_w_per_m_k=layer.conductivity_w_per_mk,
                volumetric_heat_capacity_j_per_m3_k=layer.heat_capacity_j_per_m3k,
            )
            for i, layer in enumerate(case.layers)
        ),
        package=PackageSpec(
            die_to_ambient_k_per_w=float(top_rise_k.mean()),
            heat_capacity_j_per_k=float(network.capacitance_j_per_k[die_nodes:].sum()),
        ),
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
    _, rows, cols = _grid_shape(network.grid_shape)
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
            network.conductance_w_per_k.toarray(),
            network.to_ambient_w_per_k,
        ),
        heater_ids=tuple(h.id for h in profile.heaters),
        heater_injection=heater_injection,
        sensor_weights=weights,
        top_nodes=top,
    )


def _grid_shape(shape: tuple[int, int, int] | None) -> tuple[int, int, int]:
    if shape is None:
        raise ValueError("the plant of a device is HotSpot's grid model")
    return shape


def _power_by_block(names: tuple[str, ...], die: Floorplan, power_w: FloatArray) -> FloatArray:
    by_name = {b.name: p for b, p in zip(die.blocks, power_w, strict=True)}
    return np.array([by_name.get(name, 0.0) for name in names])
