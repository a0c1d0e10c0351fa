"""Plain aligned text tables and value formatting for ``photonctl``'s output.

Plain text on purpose: output that lines up in a terminal and still splits on whitespace in
``awk``/``cut`` pipelines, without a rich-text dependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

__all__ = ["format_kv", "format_table", "num", "when"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """Return a table with a header row; ``align`` has one ``l``/``r`` per column (``l``)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    sides = align.ljust(len(headers), "l")

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(w) if side == "r" else cell.ljust(w)
            for cell, w, side in zip(cells, widths, sides, strict=True)
        )
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def format_kv(pairs: Sequence[tuple[str, str]]) -> str:
    """Return ``key: value`` lines with the values aligned."""
    width = max((len(key) for key, _ in pairs), default=0) + 1
    return "\n".join(f"{key + ':':<{width}} {value}" for key, value in pairs)


def num(value: float, digits: int = 2) -> str:
    """Format a number with fixed decimals, so columns of them line up."""
    return f"{value:.{digits}f}"


def when(moment: datetime | None) -> str:
    """Format a wall-clock time in local time to the second; ``-`` when there is none."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
