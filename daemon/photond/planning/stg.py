"""Read Standard Task Graph Set instances (.stg) and their optimum tables (P | prec | Cmax).

Format (Kasahara lab): the task count n; then n + 2 rows `id time npred preds...` (tasks 0 and
n + 1 are zero-time dummies); then a `#` comment block. Processors are identical and there is
no communication cost, so processors become one pooled resource of capacity `procs`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from photond.planning.instance import Instance, build_instance


def read_stg(path: Path | str, procs: int) -> Instance:
    """Parse one .stg file for `procs` identical processors.

    Raises:
        ValueError: the file is truncated or `procs` < 1.
    """
    if procs < 1:
        raise ValueError(f"procs must be at least 1, got {procs}")
    rows: list[list[int]] = []
    for line in Path(path).read_text().splitlines():
        if line.lstrip().startswith("#"):
            break
        if line.strip():
            rows.append([int(v) for v in line.split()])
    n = rows[0][0] + 2
    body = rows[1 : 1 + n]
    if len(body) != n:
        raise ValueError(f"{path}: expected {n} task rows, found {len(body)}")
    duration = [row[1] for row in body]
    predecessors = [row[3 : 3 + row[2]] for row in body]
    demands = [[(0, 1)] if d > 0 else [] for d in duration]
    return build_instance([str(row[0]) for row in body], duration, predecessors, [procs], demands)


def read_stg_optima(opt_dir: Path | str, procs: int) -> dict[str, tuple[int, int]]:
    """`set/file` → (lower bound, upper bound) for `procs` from `Case*_{procs}_OPT.csv` files.

    Rows `set/file,procs,value` give a proven optimum (LB = UB); `set/file,procs,LB,UB` an
    open instance.
    """
    table: dict[str, tuple[int, int]] = {}
    for path in sorted(Path(opt_dir).glob(f"*_{procs}_OPT.csv")):
        with path.open(newline="") as handle:
            for row in csv.reader(handle):
                if len(row) < 3 or not row[1].strip().isdigit() or int(row[1]) != procs:
                    continue
                values = [int(v) for v in row[2:4]]
                table[row[0].strip()] = (values[0], values[-1])
    return table


def optimum_key(path: Path | str) -> str:
    """`50/rand0000.stg` from any path ending in `<set>/<file>`."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}"
