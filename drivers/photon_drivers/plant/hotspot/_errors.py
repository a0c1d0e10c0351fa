"""The one exception the thermal plant raises for bad input files or inconsistent cases.

Every reader failure names the file and, where there is one, the line, so a lab feeding its
own HotSpot case learns exactly what to fix; the command turns it into exit status 2.
"""

from __future__ import annotations

from pathlib import Path


class ThermalInputError(ValueError):
    """An input file is missing or malformed, or a case cannot be built from it.

    Args:
        message: what is wrong, in words a user can act on.
        path: the file concerned, if any.
        line: the 1-based line number concerned, if any.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else Path(path)
        self.line = line
        if path is not None and line is not None:
            where = f"{path}:{line}: "
        elif path is not None:
            where = f"{path}: "
        else:
            where = ""
        super().__init__(where + message)


def read_lines(path: str | Path) -> list[str]:
    """Return the lines of a text file, or raise ThermalInputError naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ThermalInputError("file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ThermalInputError(f"cannot read: {exc}", path) from None


def parse_float(token: str, what: str, path: str | Path, line: int) -> float:
    """Parse one number of an input file, naming file, line and field when it is not one."""
    try:
        return float(token)
    except ValueError:
        raise ThermalInputError(f"{what}: expected a number, got {token!r}", path, line) from None
