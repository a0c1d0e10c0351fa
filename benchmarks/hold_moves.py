"""The search with and without hold moves, in one run, at equal search rounds.

Hold moves (docs/optimizer.md §3) let the search hold a task back on thermal instances. This
script plans the same instances twice per search seed — hold moves off (`hold_ticks` 0: the
list search as it was before them) and on — bounded by rounds, not wall time, so both sides get
the same search on a shared machine, and prints the makespans (ticks) side by side:

* the exact study's small thermally binding instances (`photon_bench.comparative.exact_graph`,
  8 to 20 tasks, 0.5 s ticks, the sizes and seeds `comparative.py` picks), and
* the thermal workloads of `scheduling_thermal.py` (100 and 1,000 tasks at the daemon's period).

Usage: python benchmarks/hold_moves.py [--rounds 5] [--seeds 3] [--exact 13]
       [--thermal-sizes 100 1000] [--json benchmarks/results/hold_moves.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from photon_bench.comparative import EXACT_PERIOD_S, exact_graph
from photon_drivers.profile import load_profile
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.instance import Instance
from photond.planning.optimize import Level, optimize, within_limits
from scheduling_thermal import workload

DEFAULT_JSON = Path(__file__).parent / "results" / "hold_moves.json"
# Seeds tried for a thermally binding exact instance of each size (as comparative.py).
EXACT_TRIES = 20


def exact_instances(count: int) -> list[tuple[str, Instance]]:
    """`comparative.exact`'s instances: per size, the first thermally binding seed."""
    profile = load_profile()
    device = device_thermal(profile, EXACT_PERIOD_S)
    out = []
    seed = 0
    for size in np.linspace(8, 20, count).round().astype(int):
        for _ in range(EXACT_TRIES):
            inst = graph_instance(exact_graph(profile, int(size), seed), device).instance
            seed += 1
            blind = optimize(replace(inst, thermal=None), Level.FAST)
            assert inst.thermal is not None
            if not within_limits(inst.thermal, blind.start, inst.duration):
                out.append((f"exact {size} (seed {seed - 1})", inst))
                break
    return out


def thermal_instances(sizes: list[int]) -> list[tuple[str, Instance]]:
    profile = load_profile()
    device = device_thermal(profile)
    return [
        (f"thermal {n}", graph_instance(workload(profile, n, seed=n), device).instance)
        for n in sizes
    ]


def plan_spans(inst: Instance, rounds: int, seeds: int, hold: bool) -> tuple[list[int], float]:
    """Makespans (ticks) over search seeds, and the seconds they took, hold moves on or off."""
    started = time.perf_counter()
    spans = [
        optimize(inst, Level.BALANCED, seed=s, max_rounds=rounds, hold_moves=hold).makespan_ticks
        for s in range(seeds)
    ]
    return spans, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--exact", type=int, default=13)
    parser.add_argument("--thermal-sizes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    instances = exact_instances(args.exact) + thermal_instances(args.thermal_sizes)
    print(f"BALANCED bounded by {args.rounds} rounds, search seeds 0..{args.seeds - 1}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'instance':24} {'FAST':>6} {'off: mean':>10} {'on: mean':>9}  off / on per seed")
    rows: list[dict[str, Any]] = []
    for name, inst in instances:
        fast = optimize(inst, Level.FAST).makespan_ticks
        off, off_s = plan_spans(inst, args.rounds, args.seeds, hold=False)
        on, on_s = plan_spans(inst, args.rounds, args.seeds, hold=True)
        print(
            f"{name:24} {fast:6d} {statistics.fmean(off):10.1f} {statistics.fmean(on):9.1f}  "
            f"{off} / {on}",
            flush=True,
        )
        rows.append(
            {"instance": name, "tasks": inst.n, "fast": fast, "off": off, "on": on,
             "off_s": off_s, "on_s": on_s}
        )  # fmt: skip
    ratio = statistics.fmean(statistics.fmean(r["on"]) / statistics.fmean(r["off"]) for r in rows)
    print(f"mean over instances of (on / off) makespan: {ratio:.4f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"rounds": args.rounds, "seeds": args.seeds, "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
