"""Planning time of this checkout against an earlier commit: same graphs, one after the other.

A speed-up claimed between two versions of the planner must come from one run on one machine:
host speed drifts (on the shared 2-core VM, the same decoder's time moved 1.8x within an hour).
This script makes a `git worktree` of `--base`, then for each size plans the thermal workload of
`scheduling_thermal.py` (same seed) with `plan_graph` in a fresh process for each tree —
base, then this checkout, repeated `--rounds` times so drift hits both sides alike — and keeps
each side's best time.

On a loaded machine wall time swings more than most changes (on 2 cores at a load average of
12-15, one FAST plan of 10k tasks took 0.3 to 0.9 s from run to run); `--clock cpu` times the
process's CPU seconds instead, which the load barely moves. It suits FAST (one thread); a
time-bounded level spends its budget on every thread, so its CPU time says nothing.

Usage: python benchmarks/planning_speedup.py --base 58856df [--sizes 1000 10000 100000]
       [--levels FAST BALANCED] [--rounds 2] [--clock wall|cpu]
       [--json benchmarks/results/planning_speedup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).parent / "results" / "planning_speedup.json"


def worker(tree: Path, sizes: list[int], levels: list[str], clock: str) -> None:
    """In a child process: import photond from `tree`, print one JSON line per (size, level)."""
    for sub in ("daemon", "drivers", "sdk", "benchmarks"):
        sys.path.insert(0, str(tree / sub))
    from photon_drivers.profile import load_profile
    from photond.planning.device_plan import plan_graph, warm_up
    from photond.planning.optimize import Level
    from scheduling_thermal import workload

    timer = time.process_time if clock == "cpu" else time.perf_counter
    profile = load_profile()
    warm_up(profile)
    for n in sizes:
        graph = workload(profile, n, seed=n)
        for name in levels:
            runs = []
            for _ in range(3 if n < 100_000 else 1):
                started = timer()
                plan = plan_graph(graph, profile, Level[name])
                runs.append(timer() - started)
            row = {"tasks": n, "level": name, "best_s": min(runs), "makespan_s": plan.makespan_s}
            print(json.dumps(row), flush=True)


def run_tree(tree: Path, sizes: list[int], levels: list[str], clock: str) -> list[dict[str, float]]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tree / ".cache" / "numba"))
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            str(tree),
            "--sizes",
            *map(str, sizes),
            "--levels",
            *levels,
            "--clock",
            clock,
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="the earlier commit to compare against")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--levels", nargs="+", default=["FAST", "BALANCED"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="wall seconds or CPU seconds"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.sizes, args.levels, args.clock)
        return
    if not args.base:
        parser.error("--base is required")
    best: dict[tuple[str, int, str], float] = {}
    makespan: dict[tuple[str, int, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="speedup-") as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "worktree",
                "add",
                "-q",
                "--detach",
                str(base_tree),
                args.base,
            ],
            check=True,
        )
        try:
            for _ in range(args.rounds):
                for side, tree in (("base", base_tree), ("head", ROOT)):
                    for row in run_tree(tree, args.sizes, args.levels, args.clock):
                        key = (side, int(row["tasks"]), str(row["level"]))
                        best[key] = min(best.get(key, float("inf")), row["best_s"])
                        makespan[key] = row["makespan_s"]
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                check=True,
            )
    print(
        f"base {args.base} vs this checkout; {args.clock} seconds, best of {args.rounds} rounds "
        "x 3 runs; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'tasks':>7} {'level':9} {'base s':>8} {'head s':>8} {'speed-up':>8} "
        f"{'base makespan s':>15} {'head makespan s':>15}"
    )
    rows = []
    for n in args.sizes:
        for level in args.levels:
            b, h = best[("base", n, level)], best[("head", n, level)]
            # A time-bounded level's makespan is what each side found in its budget (last run).
            mb, mh = makespan[("base", n, level)], makespan[("head", n, level)]
            print(f"{n:7d} {level:9} {b:8.3f} {h:8.3f} {b / h:7.2f}x {mb:15.3f} {mh:15.3f}")
            rows.append(
                {
                    "tasks": n,
                    "level": level,
                    "base_s": b,
                    "head_s": h,
                    "base_makespan_s": mb,
                    "head_makespan_s": mh,
                    "same_makespan": mb == mh,
                }
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"base": args.base, "clock": args.clock, "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
