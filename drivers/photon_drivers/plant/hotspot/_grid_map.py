"""Mapping between floorplan blocks and grid cells, as HotSpot's set_bgmap / xlate_* do.

Row 0 is the top edge of the die (largest y), column 0 the left edge. A block covers the
cells from its top-left to its bottom-right cell index, with HotSpot's tolerant rounding (an
edge within 1e-6 of a cell boundary is on it). Power is spread by area: a cell gets the
block's power density times the part of the cell the block covers, so a block's power is
conserved whatever the alignment. Temperatures are read back HotSpot's way: "avg" is the
plain mean of the cells in the block's index range (partially covered cells count fully —
that is what HotSpot prints, and what the references hold), "center" the mean of the one to
four central cells.
"""

from __future__ import annotations

import math
from typing import Any

import scipy.sparse as sp

from photon_drivers.plant.hotspot._errors import ThermalInputError
from photon_drivers.plant.hotspot._floorplan import Block, Floorplan

_EPS = 1e-6  # HotSpot's DELTA, applied to ratios in cell units


def _tolerant_floor(x: float) -> int:
    nearest = math.floor(x + 0.5)
    return nearest if abs(x - nearest) < _EPS else math.floor(x)


def _tolerant_ceil(x: float) -> int:
    nearest = math.floor(x + 0.5)
    return nearest if abs(x - nearest) < _EPS else math.ceil(x)


def cell_range(block: Block, die: Floorplan, rows: int, cols: int) -> tuple[int, int, int, int]:
    """(i1, i2, j1, j2): the half-open row and column index ranges a block covers."""
    cw, ch = die.width_m / cols, die.height_m / rows
    left, bottom = block.left_m - die.left_m, block.bottom_m - die.bottom_m
    i1 = rows - _tolerant_ceil((bottom + block.height_m) / ch)
    i2 = rows - _tolerant_floor(bottom / ch)
    j1 = _tolerant_floor(left / cw)
    j2 = _tolerant_ceil((left + block.width_m) / cw)
    if i1 < 0 or j1 < 0 or i2 > rows or j2 > cols or i1 >= i2 or j1 >= j2:
        raise ThermalInputError(
            f"block {block.name!r} does not map onto the {rows}x{cols} grid", die.source
        )
    return i1, i2, j1, j2


def _overlap(lo: float, hi: float, cell_lo: float, size: float) -> float:
    span = min(hi, cell_lo + size) - max(lo, cell_lo)
    if abs(span / size) < _EPS:
        return 0.0
    if abs(span / size - 1.0) < _EPS:
        return size
    return max(span, 0.0)


def block_cell_maps(
    fp: Floorplan, die: Floorplan, rows: int, cols: int, mode: str
) -> tuple[Any, Any]:
    """Sparse (cells x blocks) power share and (blocks x cells) readout for one layer.

    Cell index is row·cols + col within the layer.
    """
    cw, ch = die.width_m / cols, die.height_m / rows
    inj_r: list[int] = []
    inj_c: list[int] = []
    inj_v: list[float] = []
    out_r: list[int] = []
    out_c: list[int] = []
    out_v: list[float] = []
    for u, block in enumerate(fp.blocks):
        i1, i2, j1, j2 = cell_range(block, die, rows, cols)
        left, bottom = block.left_m - die.left_m, block.bottom_m - die.bottom_m
        for i in range(i1, i2):
            cell_bottom = die.height_m - (i + 1) * ch
            oh = _overlap(bottom, bottom + block.height_m, cell_bottom, ch)
            for j in range(j1, j2):
                ow = _overlap(left, left + block.width_m, j * cw, cw)
                if oh * ow > 0:
                    inj_r.append(i * cols + j)
                    inj_c.append(u)
                    inj_v.append(oh * ow / block.area_m2)
        if mode == "avg":
            cells = [i * cols + j for i in range(i1, i2) for j in range(j1, j2)]
        elif mode == "center":
            ci, cj = (i1 + i2) // 2, (j1 + j2) // 2
            ci2, cj2 = ci - (1 - (i2 - i1) % 2), cj - (1 - (j2 - j1) % 2)
            cells = [a * cols + b for a in (ci, ci2) for b in (cj, cj2)]  # repeats weigh in
        else:
            raise ValueError(f"unknown grid map mode {mode!r}")
        for cell in cells:
            out_r.append(u)
            out_c.append(cell)
            out_v.append(1.0 / len(cells))
    n_cells = rows * cols
    injection = sp.csr_matrix((inj_v, (inj_r, inj_c)), shape=(n_cells, len(fp.blocks)))
    readout = sp.csr_matrix((out_v, (out_r, out_c)), shape=(len(fp.blocks), n_cells))
    return injection, readout
