"""HotSpot's grid model: a rowsxcols finite-volume grid per layer, plus the package ring.

Layers, top to bottom: the die layers (from a layer file, or silicon + interface from the
config), then the spreader and the sink, each cut into cells of cw x ch over the die. As in
HotSpot's `temperature_grid.c`: neighbouring cells in a layer are joined by cw/(k·ch·t) (x)
or ch/(k·cw·t) (y) unless the layer has no lateral flow; a cell and the one below it by the
full t/(k·cw·ch) of the upper layer; sink cells reach ambient through their share of the sink
and of `r_convec`. Edge cells of the spreader and sink reach the ring node on their side
through ry/2 + cols·r_sp1_y (north/south) or rx/2 + rows·r_sp1_x (east/west) — the ring's
lateral resistance shared among the edge cells — with r_hs1_* for the sink.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from photon_drivers.plant.hotspot._case import ThermalCase
from photon_drivers.plant.hotspot._floorplan import Floorplan
from photon_drivers.plant.hotspot._grid_map import block_cell_maps
from photon_drivers.plant.hotspot._network import (
    C_FACTOR,
    RING_NODES,
    NetworkAssembler,
    PlantNetwork,
)
from photon_drivers.plant.hotspot._package import attach_ring, package_layers, package_ring


def build_grid_network(case: ThermalCase) -> PlantNetwork:
    """Build HotSpot's grid-model network for a case."""
    rows, cols = case.grid_rows, case.grid_cols
    die = case.floorplan
    pkg = case.package
    bottom_fp = case.layers[-1].floorplan  # HotSpot gives the package layers the last one's
    stack = [*case.layers, *package_layers(pkg, bottom_fp)]
    n_layers, n_cells = len(stack), rows * cols
    net = NetworkAssembler(n_layers * n_cells + len(RING_NODES))
    cw, ch = die.width_m / cols, die.height_m / rows
    cell = np.arange(n_cells).reshape(rows, cols)
    s_hs2 = pkg.sink_side_m**2

    for li, layer in enumerate(stack):
        base = li * n_cells
        k, t = layer.conductivity_w_per_mk, layer.thickness_m
        net.capacitance[base : base + n_cells] = (
            C_FACTOR * layer.heat_capacity_j_per_m3k * t * cw * ch
        )
        if layer.has_lateral:
            net.connect(base + cell[:, :-1], base + cell[:, 1:], k * ch * t / cw)
            net.connect(base + cell[:-1, :], base + cell[1:, :], k * cw * t / ch)
        if li < n_layers - 1:
            net.connect(base + cell, base + n_cells + cell, k * cw * ch / t)
    sink = (n_layers - 1) * n_cells
    net.capacitance[sink : sink + n_cells] += (
        C_FACTOR * pkg.convection_capacitance_j_per_k * cw * ch / s_hs2
    )
    net.to_ambient[sink : sink + n_cells] = 1.0 / (
        pkg.sink_thickness_m / (pkg.sink_conductivity_w_per_mk * cw * ch)
        + pkg.convection_resistance_k_per_w * s_hs2 / (cw * ch)
    )

    ring = package_ring(pkg, die.width_m, die.height_m)
    ring_idx = attach_ring(net, ring, n_layers * n_cells)
    for li, prefix, r1_x, r1_y in (
        (n_layers - 2, "SP_", ring.r_sp1_x, ring.r_sp1_y),
        (n_layers - 1, "SINK_C_", ring.r_hs1_x, ring.r_hs1_y),
    ):
        k, t = stack[li].conductivity_w_per_mk, stack[li].thickness_m
        rx, ry = cw / (k * ch * t), ch / (k * cw * t)
        base = li * n_cells
        g_ns, g_ew = 1.0 / (ry / 2 + cols * r1_y), 1.0 / (rx / 2 + rows * r1_x)
        net.connect(base + cell[0, :], ring_idx[prefix + "N"], g_ns)
        net.connect(base + cell[-1, :], ring_idx[prefix + "S"], g_ns)
        net.connect(base + cell[:, -1], ring_idx[prefix + "E"], g_ew)
        net.connect(base + cell[:, 0], ring_idx[prefix + "W"], g_ew)

    n = net.capacitance.size
    report_names: list[str] = []
    report_blocks = []
    block_names: list[str] = []
    inj_blocks = []
    read_blocks = []
    power_layers = [li for li, layer in enumerate(case.layers) if layer.has_power]
    qualify = len(power_layers) > 1
    maps: dict[Floorplan, tuple[Any, Any]] = {}  # the package layers reuse the bottom one's
    for li, layer in enumerate(stack):
        if layer.floorplan not in maps:
            maps[layer.floorplan] = block_cell_maps(
                layer.floorplan, die, rows, cols, case.grid_map_mode
            )
        inj, read = maps[layer.floorplan]
        place = sp.csr_matrix(
            (np.ones(n_cells), (np.arange(n_cells), li * n_cells + np.arange(n_cells))),
            shape=(n_cells, n),
        )
        report_names += [layer.prefix + name for name in layer.floorplan.names]
        report_blocks.append(read @ place)
        if li in power_layers:
            names = layer.floorplan.names
            block_names += [layer.prefix + nm for nm in names] if qualify else list(names)
            inj_blocks.append(place.T @ inj)
            read_blocks.append(read @ place)
    report_names += [f"inode_{i}" for i in range(len(RING_NODES))]
    ring_rows = sp.csr_matrix(
        (
            np.ones(len(RING_NODES)),
            (np.arange(len(RING_NODES)), n - len(RING_NODES) + np.arange(len(RING_NODES))),
        ),
        shape=(len(RING_NODES), n),
    )
    node_names = [
        f"{layer.prefix or 'chip_'}r{i}c{j}"
        for layer in stack
        for i in range(rows)
        for j in range(cols)
    ]
    return PlantNetwork(
        model="grid",
        node_names=tuple(node_names) + RING_NODES,
        capacitance_j_per_k=net.capacitance,
        conductance_w_per_k=net.conductance_matrix(),
        to_ambient_w_per_k=net.to_ambient,
        block_names=tuple(block_names),
        power_injection=sp.csr_matrix(sp.hstack(inj_blocks)),
        block_readout=sp.csr_matrix(sp.vstack(read_blocks)),
        report_names=tuple(report_names),
        report_readout=sp.csr_matrix(sp.vstack([*report_blocks, ring_rows])),
        grid_shape=(n_layers, rows, cols),
        ambient_k=case.ambient_k,
    )
