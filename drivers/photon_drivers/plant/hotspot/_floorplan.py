"""HotSpot floorplans (`.flp`): rectangular blocks on the die, read and written.

A floorplan line is `name width height left-x bottom-y` in metres; `#` starts a comment. The
die is the bounding box of the blocks. Geometry comparisons use HotSpot's absolute tolerance
of 1 µm, so floorplans written with rounded coordinates still tile the die.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from photon_drivers.plant.hotspot._errors import ThermalInputError, parse_float, read_lines

#: HotSpot's geometric tolerance (`DELTA` in util.c): two coordinates closer than this are equal.
TOLERANCE_M = 1e-6


@dataclass(frozen=True)
class Block:
    """One rectangular functional block; the origin is the die's lower-left corner."""

    name: str
    width_m: float
    height_m: float
    left_m: float
    bottom_m: float

    @property
    def right_m(self) -> float:
        return self.left_m + self.width_m

    @property
    def top_m(self) -> float:
        return self.bottom_m + self.height_m

    @property
    def area_m2(self) -> float:
        return self.width_m * self.height_m


@dataclass(frozen=True)
class Floorplan:
    """The blocks of one layer, in file order (that order is the output order HotSpot uses)."""

    blocks: tuple[Block, ...]
    source: Path | None = None

    # The die's extents are cached (the blocks never change): each is a pass over every
    # block, and mapping a layer's blocks onto the grid asks for them once per block.

    def __post_init__(self) -> None:
        if not self.blocks:
            raise ThermalInputError("floorplan has no blocks", self.source)
        seen: set[str] = set()
        for block in self.blocks:
            if block.name in seen:
                raise ThermalInputError(f"duplicate block name {block.name!r}", self.source)
            seen.add(block.name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.blocks)

    @cached_property
    def left_m(self) -> float:
        return min(b.left_m for b in self.blocks)

    @cached_property
    def bottom_m(self) -> float:
        return min(b.bottom_m for b in self.blocks)

    @cached_property
    def width_m(self) -> float:
        """Die width: the bounding box of the blocks, as HotSpot's get_total_width."""
        return max(b.right_m for b in self.blocks) - self.left_m

    @cached_property
    def height_m(self) -> float:
        return max(b.top_m for b in self.blocks) - self.bottom_m

    def index(self, name: str) -> int:
        for i, block in enumerate(self.blocks):
            if block.name == name:
                return i
        raise KeyError(name)


def read_flp(path: str | Path) -> Floorplan:
    """Read a HotSpot `.flp` file.

    Raises:
        ThermalInputError: the file is missing, a line does not have five fields, a number
            does not parse, or a size is not positive.
    """
    blocks: list[Block] = []
    for number, raw in enumerate(read_lines(path), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) != 5:
            raise ThermalInputError(
                f"expected 'name width height left-x bottom-y', got {len(fields)} fields "
                "(per-block materials of HotSpot's detailed 3-D mode are not supported)",
                path,
                number,
            )
        name = fields[0]
        width, height, left, bottom = (
            parse_float(tok, what, path, number)
            for tok, what in zip(fields[1:], ("width", "height", "left-x", "bottom-y"), strict=True)
        )
        if width <= 0 or height <= 0:
            raise ThermalInputError(f"block {name!r}: width and height must be > 0", path, number)
        blocks.append(Block(name, width, height, left, bottom))
    return Floorplan(tuple(blocks), Path(path))


def format_flp(blocks: Iterable[Block]) -> str:
    """Render blocks in HotSpot's `.flp` layout (tab-separated, 9 decimals as HotSpot writes)."""
    return "".join(
        f"{b.name}\t{b.width_m:.9f}\t{b.height_m:.9f}\t{b.left_m:.9f}\t{b.bottom_m:.9f}\n"
        for b in blocks
    )


def write_flp(path: str | Path, floorplan: Floorplan | Sequence[Block]) -> None:
    blocks = floorplan.blocks if isinstance(floorplan, Floorplan) else floorplan
    Path(path).write_text(format_flp(blocks), encoding="utf-8")
