"""HotSpot's block model: one node per floorplan block per layer, plus the package ring.

Layers, top to bottom: the die layers of the case (silicon and thermal interface by default),
then the spreader and the sink, all cut by the same floorplan; then the 12 ring nodes. This is
HotSpot's `temperature_block.c`, formula for formula (see ../shared/thermal/README.md):
lateral links join blocks that share an edge, vertical links go through the full thickness of
the upper layer, sink blocks reach ambient through the sink and their share of `r_convec`,
and border blocks of the spreader and sink reach the ring through their half-block
resistance, corrected by Σ 1/R_half of all border blocks on that side.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from photon_drivers.plant.hotspot._case import ThermalCase
from photon_drivers.plant.hotspot._errors import ThermalInputError
from photon_drivers.plant.hotspot._floorplan import TOLERANCE_M, Floorplan
from photon_drivers.plant.hotspot._network import (
    C_FACTOR,
    RING_NODES,
    NetworkAssembler,
    PlantNetwork,
)
from photon_drivers.plant.hotspot._package import attach_ring, package_layers, package_ring

FloatArray = np.typing.NDArray[np.float64]


def _shared_edges(fp: Floorplan) -> list[tuple[int, int, float, bool]]:
    """Pairs (i, j, shared_length_m, side_by_side) of blocks that share an edge.

    side_by_side is True when the shared edge is vertical (blocks left/right of each other).
    Corner-only contact and overlaps below HotSpot's 1 µm tolerance do not count.
    """
    pairs: list[tuple[int, int, float, bool]] = []
    blocks = fp.blocks
    for i, a in enumerate(blocks):
        for j in range(i + 1, len(blocks)):
            b = blocks[j]
            if abs(a.right_m - b.left_m) < TOLERANCE_M or abs(b.right_m - a.left_m) < TOLERANCE_M:
                shared = min(a.top_m, b.top_m) - max(a.bottom_m, b.bottom_m)
                if shared > TOLERANCE_M:
                    pairs.append((i, j, shared, True))
            elif abs(a.top_m - b.bottom_m) < TOLERANCE_M or abs(b.top_m - a.bottom_m) < TOLERANCE_M:
                shared = min(a.right_m, b.right_m) - max(a.left_m, b.left_m)
                if shared > TOLERANCE_M:
                    pairs.append((i, j, shared, False))
    return pairs


def _lateral(net: NetworkAssembler, fp: Floorplan, base: int, k: float, t: float,
             pairs: list[tuple[int, int, float, bool]]) -> None:  # fmt: skip
    """Centre-to-centre conductance k·t·L / (d_i/2 + d_j/2) across each shared edge."""
    for i, j, length, side_by_side in pairs:
        a, b = fp.blocks[i], fp.blocks[j]
        span = (a.width_m + b.width_m) / 2 if side_by_side else (a.height_m + b.height_m) / 2
        net.connect(base + i, base + j, k * t * length / span)


def build_block_network(case: ThermalCase) -> PlantNetwork:
    """Build HotSpot's block-model network for a case whose die layers share one floorplan.

    Raises:
        ThermalInputError: the die layers have different floorplans (use the grid model).
    """
    fp = case.floorplan
    for layer in case.layers[1:]:
        if layer.floorplan.names != fp.names:
            raise ThermalInputError(
                "the block model needs one floorplan for all die layers; use the grid model",
                layer.floorplan.source,
            )
    pkg = case.package
    n = len(fp.blocks)
    stack = [*case.layers, *package_layers(pkg, fp)]
    n_layers = len(stack)
    net = NetworkAssembler(n_layers * n + len(RING_NODES))
    area = np.array([b.area_m2 for b in fp.blocks])
    width = np.array([b.width_m for b in fp.blocks])
    height = np.array([b.height_m for b in fp.blocks])
    pairs = _shared_edges(fp)
    s_hs2 = pkg.sink_side_m**2

    for li, layer in enumerate(stack):
        base = li * n
        k, t = layer.conductivity_w_per_mk, layer.thickness_m
        net.capacitance[base : base + n] = C_FACTOR * layer.heat_capacity_j_per_m3k * t * area
        if layer.has_lateral and not (li == 0 and case.omit_chip_lateral):
            _lateral(net, fp, base, k, t, pairs)
        if li < n_layers - 1:  # full thickness of the upper layer between vertical neighbours
            net.connect(np.arange(base, base + n), np.arange(base + n, base + 2 * n), k * area / t)
    sink = (n_layers - 1) * n
    net.capacitance[sink : sink + n] += C_FACTOR * pkg.convection_capacitance_j_per_k * area / s_hs2
    net.to_ambient[sink : sink + n] = 1.0 / (
        pkg.sink_thickness_m / (pkg.sink_conductivity_w_per_mk * area)
        + pkg.convection_resistance_k_per_w * s_hs2 / area
    )

    ring = package_ring(pkg, fp.width_m, fp.height_m)
    ring_idx = attach_ring(net, ring, n_layers * n)
    left, bottom = fp.left_m, fp.bottom_m
    on_side = {
        "W": np.array([abs(b.left_m - left) < TOLERANCE_M for b in fp.blocks]),
        "E": np.array([abs(b.right_m - left - fp.width_m) < TOLERANCE_M for b in fp.blocks]),
        "N": np.array([abs(b.top_m - bottom - fp.height_m) < TOLERANCE_M for b in fp.blocks]),
        "S": np.array([abs(b.bottom_m - bottom) < TOLERANCE_M for b in fp.blocks]),
    }
    for li, ring_prefix, r1 in (
        (n_layers - 2, "SP_", (ring.r_sp1_x, ring.r_sp1_y)),
        (n_layers - 1, "SINK_C_", (ring.r_hs1_x, ring.r_hs1_y)),
    ):
        k, t = stack[li].conductivity_w_per_mk, stack[li].thickness_m
        for side, border in on_side.items():
            if side in ("W", "E"):
                r_half, r_ring = (width / 2) / (k * height * t), r1[0]
            else:
                r_half, r_ring = (height / 2) / (k * width * t), r1[1]
            g_sum = float(np.sum(1.0 / r_half[border]))
            g = 1.0 / (r_half[border] * (1.0 + r_ring * g_sum))
            net.connect(li * n + np.flatnonzero(border), ring_idx[ring_prefix + side], g)

    names = [layer.prefix + name for layer in stack for name in fp.names]
    report = names + [f"inode_{i}" for i in range(len(RING_NODES))]
    nodes = names + list(RING_NODES)
    power_layers = [li for li, layer in enumerate(case.layers) if layer.has_power] or [0]
    rows = np.concatenate([li * n + np.arange(n) for li in power_layers])
    cols = np.arange(len(rows))
    block_names = tuple(names[r] if len(power_layers) > 1 else fp.names[r % n] for r in rows)
    injection = sp.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(net.capacitance.size, len(rows))
    )
    return PlantNetwork(
        model="block",
        node_names=tuple(nodes),
        capacitance_j_per_k=net.capacitance,
        conductance_w_per_k=net.conductance_matrix(),
        to_ambient_w_per_k=net.to_ambient,
        block_names=block_names,
        power_injection=injection,
        block_readout=sp.csr_matrix(injection.T),
        report_names=tuple(report),
        report_readout=sp.identity(len(nodes), format="csr"),
        grid_shape=None,
        ambient_k=case.ambient_k,
    )
