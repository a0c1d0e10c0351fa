"""HotSpot's tabular files: power traces in, temperature traces and steady states out.

- `.ptrace`: a header of block names, then one row of powers (W) per sampling interval;
- `.ttrace`: the same layout with temperatures (K) — HotSpot's `-o` transient output;
- `.steady`: `name temperature_K` lines (blocks of every layer, then the package nodes);
- `.grid.cells`: per layer a `Layer N:` line, then `cell_index temperature_K` lines.

Writers print six decimals, as the shipped references do, so a file written here and a file
written by HotSpot parse the same way and compare number for number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from photon_drivers.plant.hotspot._errors import ThermalInputError, parse_float, read_lines

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Trace:
    """Named columns over time: powers (W) for a `.ptrace`, temperatures (K) for a `.ttrace`."""

    names: tuple[str, ...]
    values: FloatArray  # (rows, len(names))

    def column(self, name: str) -> FloatArray:
        return self.values[:, self.names.index(name)]


def _content_lines(path: str | Path) -> list[tuple[int, list[str]]]:
    out = []
    for number, raw in enumerate(read_lines(path), start=1):
        text = raw.split("#", 1)[0].strip()
        if text:
            out.append((number, text.split()))
    return out


def read_trace(path: str | Path) -> Trace:
    """Read a `.ptrace` or `.ttrace`: a header of names, then rows of numbers.

    Raises:
        ThermalInputError: missing file, no header or no rows, a row of the wrong length, a
            value that is not a number, or a repeated name.
    """
    lines = _content_lines(path)
    if not lines:
        raise ThermalInputError("empty trace: expected a header of block names", path)
    header_line, names = lines[0]
    if len(set(names)) != len(names):
        raise ThermalInputError("repeated name in the header", path, header_line)
    if len(lines) < 2:
        raise ThermalInputError("trace has a header but no rows", path)
    rows = np.empty((len(lines) - 1, len(names)))
    for r, (number, fields) in enumerate(lines[1:]):
        if len(fields) != len(names):
            raise ThermalInputError(
                f"expected {len(names)} values (one per header name), got {len(fields)}",
                path,
                number,
            )
        rows[r] = [parse_float(tok, names[c], path, number) for c, tok in enumerate(fields)]
    return Trace(tuple(names), rows)


def write_trace(path: str | Path, names: Sequence[str], values: FloatArray) -> None:
    """Write a `.ttrace` (or `.ptrace`): tab-separated header, then one row per sample."""
    table = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if table.shape[1] != len(names):
        raise ValueError(f"{table.shape[1]} columns for {len(names)} names")
    body = "\n".join("\t".join(f"{v:.6f}" for v in row) for row in table)
    Path(path).write_text("\t".join(names) + "\n" + body + "\n", encoding="utf-8")


def read_steady(path: str | Path) -> dict[str, float]:
    """Read a `.steady` file into {name: temperature_K}, in file order."""
    out: dict[str, float] = {}
    for number, fields in _content_lines(path):
        if len(fields) != 2:
            raise ThermalInputError("expected 'name temperature'", path, number)
        if fields[0] in out:
            raise ThermalInputError(f"repeated name {fields[0]!r}", path, number)
        out[fields[0]] = parse_float(fields[1], fields[0], path, number)
    if not out:
        raise ThermalInputError("no temperatures in file", path)
    return out


def write_steady(path: str | Path, names: Sequence[str], temperatures_k: FloatArray) -> None:
    if len(names) != len(temperatures_k):
        raise ValueError(f"{len(temperatures_k)} temperatures for {len(names)} names")
    text = "".join(f"{n}\t{t:.6f}\n" for n, t in zip(names, temperatures_k, strict=True))
    Path(path).write_text(text, encoding="utf-8")


def read_grid_cells(path: str | Path) -> list[FloatArray]:
    """Read a `.grid.cells` file: one flat array of cell temperatures (K) per layer.

    Cells must be listed in index order 0..rows·cols-1 within each layer, as HotSpot writes.
    """
    layers: list[list[float]] = []
    for number, fields in _content_lines(path):
        if fields[0] == "Layer":
            expected = f"{len(layers)}:"
            if len(fields) != 2 or fields[1] != expected:
                raise ThermalInputError(f"expected 'Layer {expected}'", path, number)
            layers.append([])
            continue
        if not layers:
            raise ThermalInputError("cell before the first 'Layer N:' line", path, number)
        if len(fields) != 2 or fields[0] != str(len(layers[-1])):
            raise ThermalInputError(
                f"expected '{len(layers[-1])} temperature' (cells in index order)", path, number
            )
        layers[-1].append(parse_float(fields[1], f"cell {fields[0]}", path, number))
    if not layers:
        raise ThermalInputError("no 'Layer N:' sections", path)
    return [np.asarray(layer, dtype=np.float64) for layer in layers]


def write_grid_cells(path: str | Path, layers: Sequence[FloatArray]) -> None:
    parts = []
    for n, cells in enumerate(layers):
        parts.append(f"Layer {n}:\n")
        parts.append("".join(f"{i}\t{t:.6f}\n" for i, t in enumerate(np.ravel(cells))))
    Path(path).write_text("".join(parts), encoding="utf-8")
