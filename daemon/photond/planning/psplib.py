"""Read PSPLIB single-mode RCPSP instances (.sm) and their optimum / best-known tables.

Format (Kolisch & Sprecher 1996): a header with the job count (including the dummy source and
sink) and the renewable resource count; `PRECEDENCE RELATIONS` rows `job modes nsucc succ...`;
`REQUESTS/DURATIONS` rows `job mode duration demand...`; `RESOURCEAVAILABILITIES` with one
capacity per renewable resource. Only renewable resources are supported (single-mode RCPSP).
"""

from __future__ import annotations

import re
from pathlib import Path

from photond.planning.instance import Instance, build_instance


def read_psplib(path: Path | str) -> Instance:
    """Parse one .sm file into an `Instance` (jobs keep their 1-based numbers as names).

    Raises:
        ValueError: the file is not a single-mode PSPLIB instance.
    """
    text = Path(path).read_text()
    lines = text.splitlines()
    jobs = _header_int(text, r"jobs \(incl\. supersource/sink \)\s*:\s*(\d+)")
    renewable = _header_int(text, r"-\s*renewable\s*:\s*(\d+)")
    succ = _section(lines, "PRECEDENCE RELATIONS:", jobs, skip=1)
    reqs = _section(lines, "REQUESTS/DURATIONS:", jobs, skip=2)
    cap_at = next(i for i, line in enumerate(lines) if line.startswith("RESOURCEAVAILABILITIES"))
    capacity = [int(v) for v in lines[cap_at + 2].split()[:renewable]]
    predecessors: list[list[int]] = [[] for _ in range(jobs)]
    for row in succ:
        job, count = row[0] - 1, row[2]
        for s in row[3 : 3 + count]:
            predecessors[s - 1].append(job)
    duration = [0] * jobs
    demands: list[list[tuple[int, int]]] = [[] for _ in range(jobs)]
    for row in reqs:
        if row[1] != 1:
            raise ValueError(f"{path}: job {row[0]} has mode {row[1]}; only single-mode is read")
        duration[row[0] - 1] = row[2]
        demands[row[0] - 1] = list(enumerate(row[3 : 3 + renewable]))
    return build_instance(
        [str(j + 1) for j in range(jobs)], duration, predecessors, capacity, demands
    )


def read_solution_table(path: Path | str) -> dict[tuple[int, int], int]:
    """(parameter, instance) → makespan from j30opt.sm / j60hrs.sm style tables.

    Rows are `par inst makespan ...`; header and ruler lines are skipped. For `j60lb.sm`
    (`par inst UB LB`) the upper bound is returned.
    """
    table: dict[tuple[int, int], int] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
            table[(int(parts[0]), int(parts[1]))] = int(parts[2])
    return table


def instance_key(path: Path | str) -> tuple[int, int]:
    """(parameter, instance) from a name like `j3012_4.sm`."""
    match = re.search(r"j\d{2}(\d+)_(\d+)\.sm$", str(path))
    if match is None:
        raise ValueError(f"{path}: not named like j30{{par}}_{{inst}}.sm")
    return int(match.group(1)), int(match.group(2))


def _header_int(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"PSPLIB header field missing: {pattern}")
    return int(match.group(1))


def _section(lines: list[str], title: str, rows: int, skip: int) -> list[list[int]]:
    at = next((i for i, line in enumerate(lines) if line.startswith(title)), None)
    if at is None:
        raise ValueError(f"PSPLIB section missing: {title}")
    body = lines[at + skip : at + skip + rows + 1]
    parsed = [[int(v) for v in line.split()] for line in body if line.strip()[:1].isdigit()]
    return parsed[:rows]
