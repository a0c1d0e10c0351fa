"""Do the model workloads pass the daemon's checks and plan, and how does grouping change plans?

A real photond runs as a subprocess. For each model (ResNet-50, BERT-base, GPT-2 small) and
each grouping (`--tiles-per-task`, several allowed), the script maps the whole model onto the
daemon's device (`photon_sdk.workloads.to_task_graph`, the device as DescribeDevice gives it),
then asks PlanJob for a plan at each `--level`: the daemon validates the graph
(rpc/validation.py) and plans it. Per row: tasks, tiles, the time to build the graph, the
PlanJob wall time (client side: serialisation, validation, planning, answer), the planner's
own planning time, makespan, lower bound and gap, predicted peak temperature.

    .venv/bin/python benchmarks/workload_planning.py [--models resnet50 bert_base gpt2_small]
        [--tiles-per-task 512 128] [--levels fast] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from photon_bench.daemon import start_photond
from photon_sdk import Client, OptimizationLevel
from photon_sdk.workloads import DEFAULT_TILES_PER_TASK, MODELS, to_task_graph

RESULTS = Path(__file__).resolve().parent / "results" / "workload_planning.json"


def start(state_dir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    socket_path = state_dir / "photond.sock"
    log_path = state_dir / "photond.log"
    return start_photond(state_dir, socket_path, log_path), f"unix:{socket_path}", log_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--tiles-per-task", nargs="+", type=int, default=[DEFAULT_TILES_PER_TASK, 128]
    )
    parser.add_argument("--levels", nargs="+", default=["fast"], choices=["fast", "balanced"])
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wp-") as tmp:
        process, target, _log_path = start(Path(tmp))
        try:
            with Client(target, timeout_s=900.0) as client:
                device = client.list_devices()[0]
                for model in args.models:
                    workload = MODELS[model]()
                    for grouping in args.tiles_per_task:
                        t0 = time.perf_counter()
                        graph = to_task_graph(workload, device, tiles_per_task=grouping)
                        build_s = time.perf_counter() - t0
                        for level in args.levels:
                            t0 = time.perf_counter()
                            plan = client.plan_job(
                                graph, device_id=device.id, level=OptimizationLevel(level)
                            )
                            wall_s = time.perf_counter() - t0
                            row = {
                                "model": workload.name,
                                "tiles_per_task": grouping,
                                "level": level,
                                "tasks": len(graph),
                                "tiles": workload.tiles(8),
                                "build_s": build_s,
                                "plan_job_wall_s": wall_s,
                                "planning_time_s": plan.planning_time_s,
                                "makespan_s": plan.makespan_s,
                                "lower_bound_s": plan.lower_bound_s,
                                "gap_to_bound": plan.gap_to_bound,
                                "busy_s": sum(t.duration_s for t in graph),
                                "predicted_peak_c": plan.predicted_peak_temperature_c,
                                # The machine is shared: build and wall times depend on it.
                                "load_average_1min": os.getloadavg()[0],
                            }
                            rows.append(row)
                            print(json.dumps(row), flush=True)
        finally:
            process.terminate()
            process.wait(60)
    header = (
        f"{'model':<18}{'tiles/task':>11}{'level':>9}{'tasks':>8}{'build s':>9}{'PlanJob s':>11}"
        f"{'plan s':>8}{'busy s':>9}{'makespan s':>12}{'bound s':>9}{'gap':>8}{'peak C':>8}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['model']:<18}{r['tiles_per_task']:>11}{r['level']:>9}{r['tasks']:>8}"
            f"{r['build_s']:>9.1f}{r['plan_job_wall_s']:>11.2f}{r['planning_time_s']:>8.2f}"
            f"{r['busy_s']:>9.2f}{r['makespan_s']:>12.2f}{r['lower_bound_s']:>9.2f}"
            f"{r['gap_to_bound']:>8.3f}{r['predicted_peak_c']:>8.1f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
