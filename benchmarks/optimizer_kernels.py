"""Benchmark the optimizer's round kernel: evaluations (decoded schedules) per second.

For each instance — PSPLIB j30 and j60 and an STG graph from ../shared/benchmarks/ (serial
scheme, double justification), and thermal workload graphs from `scheduling_thermal.workload`
(the heat-checked parallel scheme) — it builds the search's starting population
(`search.lft_population`: 8 replicas, the LFT list and noisy LFT lists) and times one tempering
round from that same population with:

  * numba-parallel: `search.tempering_round`, replicas in a `prange` (what the daemon runs),
    on numba's threads and again on one thread (`numba.set_num_threads(1)`);
  * numba-serial: the serial twin, the same replica code with a plain loop over replicas;
  * numpy reference: `reference_sgs.reference_decode` decoding as many lists as the round
    decodes (the population's lists in turn), heat ignored. It is the serial scheme only, so
    thermal rows have no reference ("n/a" in the table); it also skips the moves and the
    justification bookkeeping, which favours it slightly.

An evaluation is one decoded schedule: a move is one decode, or three with double justification
(forward, backward on the reversed graph, forward again), as `search` counts them. Every numba
time is the best of `--repeats` rounds, each from a fresh copy of the same population, after a
warm-up (compilation and cache load excluded); the reference is timed once (it runs for
seconds).

Two ratios: parallel over serial twin (par/ser), and parallel over itself on one thread
(par/1thr), which is threading alone. They differ because the twin is not the same machine code:
numba compiles a prange body as a separate gufunc, and the replica code it calls gets its own
specialisation there (error_model="numpy" in its ABI tag; giving the twin that flag did not
close the gap, so the cause is not pinned down). On this machine the parallel kernel on one
thread runs a round 10-30 % faster than the twin, so par/ser can exceed the thread count. Both
ratios depend on a free core: on a machine shared with other work they fall towards 1 (or
below) whatever the kernel does, so the JSON records the load average before and after, the
thread count and the threading layer numba used.

Usage: python benchmarks/optimizer_kernels.py [--instances psplib/j30/j3013_1.sm ...]
       [--thermal-tasks 100 1000] [--moves N] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from functools import partial
from pathlib import Path
from typing import Any

import numba
import numpy as np

from photon_bench.reference_sgs import reference_decode
from photon_drivers.profile import load_profile
from photond.planning.decoder import decode
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.instance import Instance
from photond.planning.psplib import read_psplib
from photond.planning.search import (
    Population,
    RoundProblem,
    default_moves,
    lft_population,
    tempering_round,
)
from photond.planning.stg import read_stg
from scheduling_thermal import workload
from thermal_kernels import best_time_s

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = ROOT.parent / "shared" / "benchmarks"
DEFAULT_JSON = Path(__file__).parent / "results" / "optimizer_kernels.json"
DEFAULT_INSTANCES = ("psplib/j30/j3013_1.sm", "psplib/j60/j6013_1.sm", "stg/50/rand0000.stg")


def load(bench_dir: Path, name: str, procs: int) -> Instance:
    path = bench_dir / name
    return read_stg(path, procs) if path.suffix == ".stg" else read_psplib(path)


def fresh_round(
    pop: Population, moves: int, problem: RoundProblem, parallel: bool, threads: int
) -> int:
    """One round from a copy of `pop`, so that every timing decodes the very same lists."""
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return tempering_round(pop.copy(), moves, problem, parallel=parallel)
    finally:
        numba.set_num_threads(before)


def reference_run(inst: Instance, pop: Population, decodes: int) -> tuple[float, bool]:
    """(seconds for `decodes` reference decodes of the lists, agrees with the kernel)."""
    spans = [decode(inst, order)[0] for order in pop.lists]
    agrees = True
    started = time.perf_counter()
    for k in range(decodes):
        r = k % len(spans)
        agrees &= reference_decode(inst, pop.lists[r])[0] == spans[r]
    return time.perf_counter() - started, agrees


def measure(
    label: str, inst: Instance, args: argparse.Namespace, reference: bool
) -> dict[str, Any]:
    problem = RoundProblem.of(inst)
    pop = lft_population(inst, problem, replicas=args.replicas, seed=args.seed)
    moves = args.moves or default_moves(inst.n)
    evaluations = args.replicas * moves * problem.decodes_per_move
    row: dict[str, Any] = {
        "instance": label,
        "tasks": inst.n,
        "thermal": inst.thermal is not None,
        "double_justification": problem.use_fbi,
        "moves_per_replica": moves,
        "evaluations_per_round": evaluations,
    }
    threads = numba.get_num_threads()
    for name, parallel, use in (
        ("parallel", True, threads),
        ("parallel_1_thread", True, 1),
        ("serial", False, threads),
    ):
        run = partial(fresh_round, pop, moves, problem, parallel, use)
        row[f"{name}_round_s"] = best_time_s(run, args.repeats)
        row[f"{name}_evaluations_per_s"] = evaluations / row[f"{name}_round_s"]
    row["parallel_over_serial"] = row["serial_round_s"] / row["parallel_round_s"]
    row["parallel_over_1_thread"] = row["parallel_1_thread_round_s"] / row["parallel_round_s"]
    row["reference_evaluations_per_s"] = None
    row["serial_over_reference"] = None
    if reference:
        seconds, row["reference_agrees"] = reference_run(inst, pop, evaluations)
        row["reference_evaluations_per_s"] = evaluations / seconds
        row["serial_over_reference"] = row["serial_evaluations_per_s"] / (evaluations / seconds)
    return row


def print_row(row: dict[str, Any]) -> None:
    ref = row["reference_evaluations_per_s"]
    ref_cells = (
        f"{ref:>12.0f} {row['serial_over_reference']:>8.0f}" if ref else f"{'n/a':>12} {'':>8}"
    )
    print(
        f"{row['instance']:>24} {row['tasks']:>6} {row['evaluations_per_round']:>7} "
        f"{row['parallel_evaluations_per_s']:>12.0f} "
        f"{row['parallel_1_thread_evaluations_per_s']:>12.0f} "
        f"{row['serial_evaluations_per_s']:>12.0f} {ref_cells} "
        f"{row['parallel_over_serial']:>7.2f} {row['parallel_over_1_thread']:>8.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--instances", nargs="*", default=list(DEFAULT_INSTANCES))
    parser.add_argument("--procs", type=int, default=4, help="processors for STG instances")
    parser.add_argument("--thermal-tasks", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--moves", type=int, default=0, help="per replica; 0: the search's")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    load_before = os.getloadavg()
    print(
        f"numba {numba.__version__} with {numba.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f}; "
        f"{args.replicas} replicas, best of {args.repeats} rounds"
    )
    print(
        f"{'instance':>24} {'tasks':>6} {'evals':>7} {'parallel /s':>12} {'par 1thr /s':>12} "
        f"{'serial /s':>12} {'numpy ref /s':>12} {'ser/ref':>8} {'par/ser':>7} {'par/1thr':>8}"
    )
    rows = []
    for name in args.instances:
        inst = load(args.bench_dir, name, args.procs)
        rows.append(measure(name, inst, args, reference=True))
        print_row(rows[-1])
    profile = load_profile()
    for n in args.thermal_tasks:
        inst = graph_instance(workload(profile, n, seed=n), device_thermal(profile)).instance
        rows.append(measure(f"thermal workload {n}", inst, args, reference=False))
        print_row(rows[-1])
    print(
        "evals: schedules decoded per round (moves x replicas, x3 with double justification); "
        "par 1thr: the parallel kernel on one thread; "
        "numpy ref: the serial scheme without heat, so n/a on thermal rows"
    )
    result = {
        "benchmark": "optimizer_kernels",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": numba.threading_layer(),  # type: ignore[attr-defined]
        },
        "replicas": args.replicas,
        "repeats": args.repeats,
        "seed": args.seed,
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
