"""What a device profile needs to know of a HotSpot case: die size, blocks, layers, package.

The profile reads a HotSpot case to describe its chip (`profile._stack_from_hotspot`), and the
plant builds its network from the same case (`plant.chip`). This module sits below both and
knows nothing of profiles, so that the profile can summarise a case without importing the
plant that is built from profiles.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from photon_drivers.plant.hotspot import (
    Floorplan,
    LayerSpec,
    ThermalCase,
    build_network,
    load_case,
    steady_state,
)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CaseSummary:
    """A HotSpot case in the units a profile uses."""

    die_width_mm: float
    die_height_mm: float
    block_names: frozenset[str]
    layers: tuple[LayerSpec, ...]  # HotSpot's layers, top first, in SI units
    die_to_ambient_k_per_w: float
    package_heat_capacity_j_per_k: float


def load_grid_case(
    config: Path,
    floorplan: Path | None,
    layers: Path | None,
    grid_rows: int | None = None,
    grid_cols: int | None = None,
) -> ThermalCase:
    """The case as a grid model, at the given grid (the config's own where not given)."""
    case = load_case(config, floorplan, layers, model="grid")
    rows = grid_rows or case.grid_rows
    cols = grid_cols or case.grid_cols
    return dataclasses.replace(case, grid_rows=rows, grid_cols=cols)


@functools.lru_cache(maxsize=8)
def summarise_case(
    config: Path,
    floorplan: Path | None,
    layers: Path | None,
    grid_rows: int | None = None,
    grid_cols: int | None = None,
) -> CaseSummary:
    """Die size, blocks, layers and the package's lumped figures of a HotSpot grid case.

    The die-to-ambient resistance is measured, not typed in: 1 W spread over the power layer
    in proportion to area, divided into the mean temperature rise of that layer. The package
    heat capacity is the sum over every node below the die (spreader, sink, ring).
    """
    case = load_grid_case(config, floorplan, layers, grid_rows, grid_cols)
    network = build_network(case, "grid")
    die = case.floorplan
    power_w = np.array([b.width_m * b.height_m for b in die.blocks])
    power_w /= power_w.sum()
    _, rows, cols = grid_shape(network.grid_shape)
    cells = rows * cols
    rise_k = steady_state(network, power_by_block(network.block_names, die, power_w))
    power_layer = next(i for i, layer in enumerate(case.layers) if layer.has_power)
    top_rise_k = rise_k[power_layer * cells : (power_layer + 1) * cells] - network.ambient_k
    die_nodes = len(case.layers) * cells
    return CaseSummary(
        die_width_mm=die.width_m * 1e3,
        die_height_mm=die.height_m * 1e3,
        block_names=frozenset(network.block_names),
        layers=tuple(case.layers),
        die_to_ambient_k_per_w=float(top_rise_k.mean()),
        package_heat_capacity_j_per_k=float(network.capacitance_j_per_k[die_nodes:].sum()),
    )


def grid_shape(shape: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """(layers, rows, cols) of a grid network; a block network has no place for sensors."""
    if shape is None:
        raise ValueError("the plant of a device is HotSpot's grid model")
    return shape


def power_by_block(names: tuple[str, ...], die: Floorplan, power_w: FloatArray) -> FloatArray:
    """Power per network block from power per floorplan block (0 for blocks not given)."""
    by_name = {b.name: p for b, p in zip(die.blocks, power_w, strict=True)}
    return np.array([by_name.get(name, 0.0) for name in names])
