"""The package ring: HotSpot's 12 nodes for the spreader and sink area outside the die.

The spreader and sink are wider than the die. HotSpot lumps the part outside the die into a
ring per side (west/east/north/south) — a spreader node, an inner sink node under it, and an
outer sink node — joined by the lateral and vertical resistances below. Both the block and
the grid model attach the same ring; only how the die's edge reaches it differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from photon_drivers.plant.hotspot._case import LayerSpec, PackageSpec
from photon_drivers.plant.hotspot._floorplan import Floorplan
from photon_drivers.plant.hotspot._network import C_FACTOR, RING_NODES, NetworkAssembler

SIDES = ("W", "E", "N", "S")


@dataclass(frozen=True)
class PackageRing:
    """Resistances (K/W) and capacitances (J/K) of the ring for a die of widthxheight."""

    r_sp1_x: float
    r_sp1_y: float
    r_hs1_x: float
    r_hs1_y: float
    r_hs2_x: float
    r_hs2_y: float
    r_hs: float
    r_sp_per_x: float
    r_sp_per_y: float
    r_hs_c_per_x: float
    r_hs_c_per_y: float
    r_hs_per: float
    r_amb_c_per_x: float
    r_amb_c_per_y: float
    r_amb_per: float
    c_sp_per_x: float
    c_sp_per_y: float
    c_sink_c_per_x: float
    c_sink_c_per_y: float
    c_sink_per: float


def package_layers(pkg: PackageSpec, floorplan: Floorplan) -> tuple[LayerSpec, LayerSpec]:
    """The spreader and sink as layers under the die, cut by the given floorplan."""
    return (
        LayerSpec("hsp_", pkg.spreader_thickness_m, pkg.spreader_conductivity_w_per_mk,
                  pkg.spreader_heat_capacity_j_per_m3k, floorplan),
        LayerSpec("hsink_", pkg.sink_thickness_m, pkg.sink_conductivity_w_per_mk,
                  pkg.sink_heat_capacity_j_per_m3k, floorplan),
    )  # fmt: skip


def package_ring(pkg: PackageSpec, width_m: float, height_m: float) -> PackageRing:
    """Compute the ring's R and C as HotSpot's populate_package_R/C do."""
    s_sp, t_sp, k_sp = (
        pkg.spreader_side_m,
        pkg.spreader_thickness_m,
        pkg.spreader_conductivity_w_per_mk,
    )
    s_hs, t_hs, k_hs = pkg.sink_side_m, pkg.sink_thickness_m, pkg.sink_conductivity_w_per_mk
    w, h = width_m, height_m
    a_px = (s_sp + h) * (s_sp - w) / 4.0  # west/east ring area
    a_py = (s_sp + w) * (s_sp - h) / 4.0  # north/south ring area
    a_per = (s_hs * s_hs - s_sp * s_sp) / 4.0
    r_conv_area = pkg.convection_resistance_k_per_w * s_hs * s_hs
    c_conv_per_area = pkg.convection_capacitance_j_per_k / (s_hs * s_hs)

    def lateral(k: float, t: float, length: float, cross: float) -> float:
        return length / (k * t * cross)

    return PackageRing(
        r_sp1_x=lateral(k_sp, t_sp, (s_sp - w) / 4.0, (s_sp + 3 * h) / 4.0),
        r_sp1_y=lateral(k_sp, t_sp, (s_sp - h) / 4.0, (s_sp + 3 * w) / 4.0),
        r_hs1_x=lateral(k_hs, t_hs, (s_sp - w) / 4.0, (s_sp + 3 * h) / 4.0),
        r_hs1_y=lateral(k_hs, t_hs, (s_sp - h) / 4.0, (s_sp + 3 * w) / 4.0),
        r_hs2_x=lateral(k_hs, t_hs, (s_sp - w) / 4.0, (3 * s_sp + h) / 4.0),
        r_hs2_y=lateral(k_hs, t_hs, (s_sp - h) / 4.0, (3 * s_sp + w) / 4.0),
        r_hs=lateral(k_hs, t_hs, (s_hs - s_sp) / 4.0, (s_hs + 3 * s_sp) / 4.0),
        r_sp_per_x=t_sp / (k_sp * a_px),
        r_sp_per_y=t_sp / (k_sp * a_py),
        r_hs_c_per_x=t_hs / (k_hs * a_px),
        r_hs_c_per_y=t_hs / (k_hs * a_py),
        r_hs_per=t_hs / (k_hs * a_per),
        r_amb_c_per_x=r_conv_area / a_px,
        r_amb_c_per_y=r_conv_area / a_py,
        r_amb_per=r_conv_area / a_per,
        c_sp_per_x=C_FACTOR * pkg.spreader_heat_capacity_j_per_m3k * t_sp * a_px,
        c_sp_per_y=C_FACTOR * pkg.spreader_heat_capacity_j_per_m3k * t_sp * a_py,
        c_sink_c_per_x=C_FACTOR
        * (pkg.sink_heat_capacity_j_per_m3k * t_hs + c_conv_per_area)
        * a_px,
        c_sink_c_per_y=C_FACTOR
        * (pkg.sink_heat_capacity_j_per_m3k * t_hs + c_conv_per_area)
        * a_py,
        c_sink_per=C_FACTOR * (pkg.sink_heat_capacity_j_per_m3k * t_hs + c_conv_per_area) * a_per,
    )


def attach_ring(net: NetworkAssembler, ring: PackageRing, first_node: int) -> dict[str, int]:
    """Add the 12 ring nodes' capacitances and their links among themselves and to ambient.

    Returns the node index of each ring node by name (SP_W, SINK_C_N, …). The die's edges
    are attached by the caller.
    """
    idx = {name: first_node + i for i, name in enumerate(RING_NODES)}
    for side in SIDES:
        axis = "x" if side in ("W", "E") else "y"
        r_sp_per = getattr(ring, f"r_sp_per_{axis}")
        net.capacitance[idx[f"SP_{side}"]] = getattr(ring, f"c_sp_per_{axis}")
        net.capacitance[idx[f"SINK_C_{side}"]] = getattr(ring, f"c_sink_c_per_{axis}")
        net.capacitance[idx[f"SINK_{side}"]] = ring.c_sink_per
        net.connect(idx[f"SP_{side}"], idx[f"SINK_C_{side}"], 1.0 / r_sp_per)
        net.connect(
            idx[f"SINK_C_{side}"],
            idx[f"SINK_{side}"],
            1.0 / (ring.r_hs + getattr(ring, f"r_hs2_{axis}")),
        )
        net.to_ambient[idx[f"SINK_C_{side}"]] = 1.0 / (
            getattr(ring, f"r_hs_c_per_{axis}") + getattr(ring, f"r_amb_c_per_{axis}")
        )
        net.to_ambient[idx[f"SINK_{side}"]] = 1.0 / (ring.r_hs_per + ring.r_amb_per)
    return idx
