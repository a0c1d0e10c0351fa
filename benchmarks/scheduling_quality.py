"""Measure the optimiser's combinatorial core against published optima (PSPLIB, STG).

For each instance: the optimiser at BALANCED with `--time-limit` seconds (stopping early at a
lower bound), its makespan, the known optimum or best-known value, the deviation from it, the
deviation above the critical path, the wall time, and the independent validator's verdict.
With `--vs-cpsat`, OR-Tools CP-SAT (one interval per job, one cumulative per resource, as
many workers as threads) runs on the same instance with the same limit, side by side.

Usage:
  python benchmarks/scheduling_quality.py --psplib '../shared/benchmarks/psplib/j30/*.sm' \
      --opt ../shared/benchmarks/psplib/j30opt.sm --time-limit 1 --json out.json
  python benchmarks/scheduling_quality.py --stg '../shared/benchmarks/stg/50/*.stg' \
      --opt-dir ../shared/benchmarks/stg/opt --procs 2 4 8 16 --time-limit 1 --json out.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numba

from photond.planning.bounds import critical_path_ticks
from photond.planning.instance import Instance
from photond.planning.optimize import Level, optimize, warm_up
from photond.planning.psplib import instance_key, read_psplib, read_solution_table
from photond.planning.stg import optimum_key, read_stg, read_stg_optima
from photond.planning.validator import validate_schedule


def cpsat(inst: Instance, time_limit_s: float, workers: int) -> tuple[int | None, bool, float]:
    """(makespan, proven optimal, seconds) of OR-Tools CP-SAT on `inst`."""
    from ortools.sat.python import cp_model

    started = time.perf_counter()
    model = cp_model.CpModel()
    horizon = int(inst.duration.sum())
    starts, ends, intervals = [], [], []
    for i in range(inst.n):
        d = int(inst.duration[i])
        s = model.new_int_var(0, horizon, f"s{i}")
        e = model.new_int_var(0, horizon, f"e{i}")
        intervals.append(model.new_interval_var(s, d, e, f"x{i}"))
        starts.append(s)
        ends.append(e)
    for i in range(inst.n):
        for p in inst.predecessors(i):
            model.add(starts[i] >= ends[int(p)])
    for r, cap in enumerate(inst.capacity):
        members = [(i, a) for i in range(inst.n) for res, a in inst.demands(i) if res == r]
        model.add_cumulative([intervals[i] for i, _ in members], [a for _, a in members], int(cap))
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, ends)
    model.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    status = solver.solve(model)
    elapsed = time.perf_counter() - started
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False, elapsed
    return int(solver.objective_value), status == cp_model.OPTIMAL, elapsed


def run_one(
    name: str, inst: Instance, known: int, lower: int, args: argparse.Namespace
) -> dict[str, Any]:
    started = time.perf_counter()
    solution = optimize(inst, Level.BALANCED, time_limit_s=args.time_limit, seed=args.seed)
    elapsed = time.perf_counter() - started
    cp = critical_path_ticks(inst)
    row: dict[str, Any] = {
        "instance": name,
        "tasks": inst.n,
        "makespan": solution.makespan_ticks,
        "known": known,
        "known_lower": lower,
        "deviation_pct": 100.0 * (solution.makespan_ticks - known) / known,
        "over_cp_pct": 100.0 * (solution.makespan_ticks - cp) / cp if cp else 0.0,
        "optimal": solution.makespan_ticks <= lower,
        "time_s": elapsed,
        "evaluations": solution.stats.evaluations,
        "valid": validate_schedule(inst, solution.start) == [],
    }
    if args.vs_cpsat:
        value, proven, cp_time = cpsat(inst, args.time_limit, args.threads)
        row["cpsat_makespan"] = value
        row["cpsat_proven"] = proven
        row["cpsat_deviation_pct"] = 100.0 * (value - known) / known if value is not None else None
        row["cpsat_time_s"] = cp_time
    return row


def instances(args: argparse.Namespace) -> list[tuple[str, Instance, int, int]]:
    out: list[tuple[str, Instance, int, int]] = []
    if args.psplib:
        table = read_solution_table(args.opt)
        for path in sorted(glob.glob(args.psplib)):
            key = instance_key(path)
            if key in table:
                best = table[key]
                inst = read_psplib(path)
                # A table of best-known values proves nothing: only the critical path is a bound.
                lower = best if args.opt_is_optimal else critical_path_ticks(inst)
                out.append((Path(path).name, inst, best, lower))
        return out
    for procs in args.procs:
        optima = read_stg_optima(args.opt_dir, procs)
        for path in sorted(glob.glob(args.stg)):
            stg_key = optimum_key(path)
            if stg_key in optima:
                lb, ub = optima[stg_key]
                out.append((f"{stg_key}@{procs}", read_stg(path, procs), ub, lb))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--psplib", help="glob of PSPLIB .sm files")
    source.add_argument("--stg", help="glob of STG .stg files")
    parser.add_argument("--opt", help="PSPLIB optimum / best-known table (j30opt.sm, j60hrs.sm)")
    parser.add_argument(
        "--opt-is-optimal",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether --opt holds proven optima (default: yes when its name contains 'opt')",
    )
    parser.add_argument("--opt-dir", help="directory of STG Case*_{procs}_OPT.csv tables")
    parser.add_argument("--procs", type=int, nargs="+", default=[4])
    parser.add_argument("--time-limit", type=float, default=1.0, help="seconds per instance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--vs-cpsat", action="store_true", help="also run OR-Tools CP-SAT")
    parser.add_argument("--json", type=Path, help="write rows and summary here")
    args = parser.parse_args()
    if args.psplib and not args.opt:
        parser.error("--psplib needs --opt")
    if args.stg and not args.opt_dir:
        parser.error("--stg needs --opt-dir")
    if args.opt_is_optimal is None:
        args.opt_is_optimal = bool(args.opt) and "opt" in Path(args.opt).name
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    # Compile (or load) the kernels first: a cold compile would eat the first instance's limit.
    warm_up()
    rows = []
    header = f"{'instance':24} {'n':>4} {'ours':>5} {'known':>5} {'dev%':>6} {'>cp%':>6} {'s':>5}"
    if args.vs_cpsat:
        header += f" {'cpsat':>5} {'dev%':>6} {'s':>5}"
    print(header)
    for name, inst, known, lower in instances(args):
        row = run_one(name, inst, known, lower, args)
        rows.append(row)
        line = (
            f"{name:24} {inst.n:4d} {row['makespan']:5d} {known:5d} {row['deviation_pct']:6.2f} "
            f"{row['over_cp_pct']:6.2f} {row['time_s']:5.2f}" + ("" if row["valid"] else " INVALID")
        )
        if args.vs_cpsat:
            value = row["cpsat_makespan"]
            dev = row["cpsat_deviation_pct"]
            line += f" {value if value is not None else '-':>5} "
            line += f"{dev:6.2f}" if dev is not None else f"{'-':>6}"
            line += f" {row['cpsat_time_s']:5.2f}"
        print(line, flush=True)
    summary = summarise(rows, args)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))


def summarise(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    if not rows:
        return {"instances": 0}
    summary: dict[str, Any] = {
        "instances": len(rows),
        "time_limit_s": args.time_limit,
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "mean_deviation_pct": statistics.fmean(r["deviation_pct"] for r in rows),
        "mean_over_cp_pct": statistics.fmean(r["over_cp_pct"] for r in rows),
        "share_optimal": sum(r["optimal"] for r in rows) / len(rows),
        "share_at_known": sum(r["deviation_pct"] <= 0 for r in rows) / len(rows),
        "all_valid": all(r["valid"] for r in rows),
        "mean_time_s": statistics.fmean(r["time_s"] for r in rows),
    }
    if args.vs_cpsat:
        done = [r for r in rows if r["cpsat_makespan"] is not None]
        summary["cpsat_mean_deviation_pct"] = (
            statistics.fmean(r["cpsat_deviation_pct"] for r in done) if done else None
        )
        summary["cpsat_share_at_known"] = sum(r["cpsat_deviation_pct"] <= 0 for r in done) / len(
            rows
        )
        summary["cpsat_solved"] = len(done)
    return summary


if __name__ == "__main__":
    main()
