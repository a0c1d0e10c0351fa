"""Benchmark the batched thermal-prediction kernels: candidates per second and GFLOP/s.

For K = 1 ... 4096 candidate schedules (200 control periods, in zone space with 8 zones and in
heater space with 64 heaters) on the default profile's compact model, it times the
numba-parallel kernel, its serial twin and the numpy reference, and puts their GFLOP/s next to
the rate numpy's BLAS reaches on a 2048 x 2048 float64 matrix product in the same run.

FLOPs are those of the recurrence only (`KernelProblem.flops_per_step`: r + 2rm + 2or + 2om per
candidate-step, a multiply and an add per matrix entry), not the max/gradient checks. Every
time is the best of `--repeats` runs after a warm-up (compilation and cache load excluded), so
other load on a shared machine inflates times less; the table still says the machine's load.

Usage: python benchmarks/thermal_kernels.py [--json PATH] [--steps N] [--repeats N] [--max-k N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numba
import numpy as np

from photon_bench.candidate_kernels import IMPLEMENTATIONS, KernelProblem, evaluate_candidates
from photon_drivers.profile import load_profile
from photond.model.compact import CompactModel, InputSpace
from photond.model.metrics import sensor_pairs

DEFAULT_JSON = Path(__file__).parent / "results" / "thermal_kernels.json"
K_VALUES = (1, 4, 16, 64, 256, 1024, 4096)


def best_time_s(run: Callable[[], object], repeats: int, min_total_s: float = 0.2) -> float:
    """Best wall time of `run`, over `repeats` timings each looping for at least ~min_total_s."""
    run()
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(min_total_s / once / repeats))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            run()
        best = min(best, (time.perf_counter() - start) / loops)
    return best


def blas_gflops(repeats: int, n: int = 2048) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n)), rng.random((n, n))
    return 2 * n**3 / best_time_s(lambda: a @ b, repeats) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-k", type=int, default=K_VALUES[-1])
    args = parser.parse_args()

    profile = load_profile()
    model = CompactModel.from_profile(profile)
    pairs = sensor_pairs(profile)
    limits = profile.limits
    blas_before = blas_gflops(args.repeats)
    rows: list[dict[str, Any]] = []
    print(
        f"compact model: {model.modes} modes, dt {model.dt_s} s, {len(profile.sensors)} sensors, "
        f"{len(pairs.first)} neighbour pairs; {args.steps} steps per candidate; "
        f"numba {numba.__version__} with {numba.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    header = f"{'space':>7} {'K':>5} " + " ".join(
        f"{name + ' cand/s':>16} {'GF/s':>6}" for name in IMPLEMENTATIONS
    )
    print(header + f" {'par/ser':>7}")
    spaces: tuple[tuple[InputSpace, int], ...] = (
        ("zones", len(profile.zones)),
        ("heaters", len(profile.heaters)),
    )
    for space, inputs in spaces:
        problem = KernelProblem.from_model(
            model,
            pairs,
            max_temperature_c=limits.max_device_temperature_c,
            max_gradient_c_per_mm=limits.max_thermal_gradient_c_per_mm,
            space=space,
        )
        flops_per_step = problem.flops_per_step()
        rng = np.random.default_rng(1)
        full_mw = 20.0 * len(profile.heaters) / inputs
        all_schedules = rng.uniform(0.0, full_mw, (args.max_k, args.steps, inputs))
        state = model.initial_state()
        for k in (k for k in K_VALUES if k <= args.max_k):
            schedules = all_schedules[:k]
            row: dict[str, Any] = {"space": space, "inputs": inputs, "k": k}
            for name in IMPLEMENTATIONS:
                run = partial(evaluate_candidates, problem, schedules, state, name)
                seconds = best_time_s(run, args.repeats)
                row[f"{name}_candidates_per_s"] = k / seconds
                row[f"{name}_gflops"] = k * args.steps * flops_per_step / seconds / 1e9
            row["parallel_over_serial"] = (
                row["parallel_candidates_per_s"] / row["serial_candidates_per_s"]
            )
            row["flops_per_candidate_step"] = flops_per_step
            rows.append(row)
            cells = " ".join(
                f"{row[f'{n}_candidates_per_s']:>16.0f} {row[f'{n}_gflops']:>6.2f}"
                for n in IMPLEMENTATIONS
            )
            print(f"{space:>7} {k:>5} {cells} {row['parallel_over_serial']:>7.2f}")
    blas_after = blas_gflops(args.repeats)
    blas = max(blas_before, blas_after)
    print(
        f"numpy BLAS 2048x2048 float64 matmul: {blas:.1f} GFLOP/s "
        f"(before {blas_before:.1f}, after {blas_after:.1f}); "
        "kernel FLOPs count r + 2rm + 2or + 2om per candidate-step, checks not counted"
    )
    for row in rows:
        row["parallel_fraction_of_blas"] = row["parallel_gflops"] / blas
    best = max(rows, key=lambda r: r["parallel_gflops"])
    print(
        f"best parallel: {best['parallel_gflops']:.2f} GFLOP/s = "
        f"{100 * best['parallel_fraction_of_blas']:.0f} % of BLAS ({best['space']}, K={best['k']})"
    )
    result = {
        "benchmark": "thermal_kernels",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": os.getloadavg()[0],
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "numba_threads": numba.get_num_threads(),
        },
        "model": {"modes": model.modes, "dt_s": model.dt_s, "sensors": len(profile.sensors)},
        "steps": args.steps,
        "repeats": args.repeats,
        "flop_count": "r + 2*r*m + 2*o*r + 2*o*m per candidate-step (recurrence only)",
        "blas_gflops": blas,
        "blas_gflops_before_after": [blas_before, blas_after],
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
