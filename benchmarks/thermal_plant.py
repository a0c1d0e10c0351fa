"""The thermal plant against HotSpot 7 on the shipped cases: error and wall time.

For every reference case in ../shared/thermal/hotspot/ this runs the plant exactly as the
command does (read the files, build the network, solve) and reports the largest difference
from HotSpot's printed temperatures, in kelvin and as a percentage of the hottest top-layer
block's rise above ambient, with the wall time of the whole run. HotSpot's own times are the
ones measured on this machine and given in ../shared/thermal/README.md — the only reference
times; HotSpot is not run here. It also times a grid-model transient on v2_mesh64 (1000 steps
of 100 µs), for which no HotSpot output is shipped.

BLAS is pinned to one thread (unless OPENBLAS_NUM_THREADS is set): the block transient's
268x268 products are too small to gain from threads, and on a shared, loaded 2-core machine a
threaded OpenBLAS made them about 25x slower (1.3 s instead of 0.05 s for the 200 steps).

    .venv/bin/python benchmarks/thermal_plant.py [--json benchmarks/results/thermal_plant.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from photon_drivers.plant.hotspot import (
    Transient,
    build_network,
    load_case,
    power_rows,
    read_grid_cells,
    read_steady,
    read_trace,
    steady_state,
)
from photon_drivers.plant.hotspot._run import transient_from_trace

ROOT = Path(__file__).resolve().parents[1]
HOTSPOT = ROOT.parent / "shared" / "thermal" / "hotspot"
HOTSPOT_TIMES = "HotSpot on this machine, per ../shared/thermal/README.md"


def _layer(name: str) -> str:
    match = re.match(r"(layer_\d+_|iface_|hsp_|hsink_|inode_)", name)
    return match.group(1).rstrip("_") if match else "chip"


def steady_case(case_name: str, model: str, flp: bool, hotspot_s: str) -> dict[str, Any]:
    start = time.perf_counter()
    case = load_case(
        HOTSPOT / f"{case_name}.config",
        HOTSPOT / f"{case_name}.flp" if flp else None,
        model=model,  # type: ignore[arg-type]
    )
    net = build_network(case)
    trace = HOTSPOT / f"{case_name}.ptrace"
    temps = steady_state(net, power_rows(net, read_trace(trace), trace).mean(axis=0))
    wall_s = time.perf_counter() - start
    ref = read_steady(HOTSPOT / f"{case_name}.{model}.steady")
    ours = dict(zip(net.report_names, net.report_readout @ temps, strict=True))
    top = [ref[n] for n in ref if _layer(n) in ("chip", "layer_0")]
    peak = max(top) - case.ambient_k
    per_layer: dict[str, float] = {}
    for name, value in ref.items():
        per_layer[_layer(name)] = max(per_layer.get(_layer(name), 0.0), abs(ours[name] - value))
    row: dict[str, Any] = {
        "case": case_name, "model": model, "run": "steady", "nodes": net.n_nodes,
        "max_error_k": max(per_layer.values()), "peak_rise_k": peak,
        "per_layer_error_k": per_layer, "wall_s": wall_s, "hotspot_s": hotspot_s,
    }  # fmt: skip
    cells_file = HOTSPOT / f"{case_name}.grid.cells"
    if model == "grid" and cells_file.exists() and net.grid_shape is not None:
        layers, rows, cols = net.grid_shape
        ref_cells = np.stack(read_grid_cells(cells_file))
        diff = np.abs(temps[: layers * rows * cols].reshape(layers, -1) - ref_cells)
        row["cells_max_error_k"] = float(diff.max())
    row["max_error_pct"] = 100 * row["max_error_k"] / peak
    return row


def block_transient() -> dict[str, Any]:
    start = time.perf_counter()
    case = load_case(HOTSPOT / "v1_grid8.config", HOTSPOT / "v1_grid8.flp", model="block")
    net = build_network(case)
    trace = HOTSPOT / "v1_grid8_tr.ptrace"
    ours = transient_from_trace(net, case, power_rows(net, read_trace(trace), trace))
    wall_s = time.perf_counter() - start
    ref = read_trace(HOTSPOT / "v1_grid8.block.ttrace")
    peak = float(ref.values.max()) - case.ambient_k
    err = float(np.abs(ours - ref.values).max())
    return {
        "case": "v1_grid8", "model": "block", "run": f"transient {len(ours)} x 1 ms (exact)",
        "nodes": net.n_nodes, "max_error_k": err, "peak_rise_k": peak,
        "max_error_pct": 100 * err / peak, "wall_s": wall_s, "hotspot_s": "496",
        "speedup_vs_hotspot": 496.0 / wall_s,
    }  # fmt: skip


def grid_transient(steps: int = 1000, dt_s: float = 1e-4) -> dict[str, Any]:
    case = load_case(HOTSPOT / "v2_mesh64.config", model="grid")
    net = build_network(case)
    trace = HOTSPOT / "v2_mesh64_tr.ptrace"
    powers = power_rows(net, read_trace(trace), trace)
    start = time.perf_counter()
    sim = Transient(net, case.init_temp_k or case.ambient_k, method="tr-bdf2", max_substep_s=dt_s)
    hold = max(1, steps // len(powers))  # each trace row held for `hold` steps
    for k in range(steps):
        sim.advance(powers[min(k // hold, len(powers) - 1)], dt_s)
    wall_s = time.perf_counter() - start
    return {
        "case": "v2_mesh64", "model": "grid", "run": f"transient {steps} x 100 us (TR-BDF2)",
        "nodes": net.n_nodes, "max_error_k": None, "max_error_pct": None, "wall_s": wall_s,
        "hotspot_s": f"~{47 * 60 * steps / 10000:.0f} (47 min per 10,000 steps, scaled)",
        "final_peak_rise_k": float(sim.block_temperatures_k.max() - case.ambient_k),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/thermal_plant.json"))
    parser.add_argument("--grid-steps", type=int, default=1000, help="v2 grid transient steps")
    args = parser.parse_args()
    if not HOTSPOT.is_dir():
        raise SystemExit(f"HotSpot reference cases not found at {HOTSPOT}")
    rows = [
        steady_case("v1_grid8", "block", True, "n/a (not given)"),
        block_transient(),
        steady_case("v1_grid8", "grid", True, "0.1-0.4"),
        steady_case("v2_mesh64", "grid", False, "0.1-0.4"),
        grid_transient(args.grid_steps),
    ]
    print(f"{'case':10} {'model':5} {'run':34} {'nodes':>6} {'max err K':>10} {'% peak':>8} "
          f"{'wall s':>8}  HotSpot s ({HOTSPOT_TIMES})")  # fmt: skip
    for r in rows:
        err = "-" if r["max_error_k"] is None else f"{r['max_error_k']:.2e}"
        pct = "-" if r["max_error_pct"] is None else f"{r['max_error_pct']:.4f}"
        print(f"{r['case']:10} {r['model']:5} {r['run']:34} {r['nodes']:>6} {err:>10} {pct:>8} "
              f"{r['wall_s']:>8.3f}  {r['hotspot_s']}")  # fmt: skip
    for r in rows:
        if "per_layer_error_k" in r:
            layers = ", ".join(f"{k} {v:.2e}" for k, v in r["per_layer_error_k"].items())
            cells = f"; cells {r['cells_max_error_k']:.2e} K" if "cells_max_error_k" in r else ""
            print(f"  {r['case']} {r['model']} steady, max error per layer (K): {layers}{cells}")
    speed = rows[1]["speedup_vs_hotspot"]
    print(f"  v1_grid8 block transient: {speed:.0f}x faster than HotSpot's 496 s (target >= 100x)")
    result = {
        "benchmark": "thermal_plant",
        "hotspot_times_source": HOTSPOT_TIMES,
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor(),
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
