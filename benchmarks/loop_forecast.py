"""How long does the device loop's closed-loop step take for a large job: forecasts inline on
the loop thread, or on the forecast thread (`FORECAST_INLINE_TASKS`)?

One job of `--tasks` 10 ms tasks (loop_stall's graph: zone-0 heater h00 at 10 mW, every fifth
following the one seven before), planned once (FAST) and cached in `--plan-cache`. Each mode
then plays the job's first `--passes` control periods at real time (a 10 ms sleep between
passes, as the loop does), timing `ClosedLoop.may_start` and `Execution.step` on this thread:
the loop thread's own work per pass. "inline" is the loop as it was before forecasts moved off
it (every forecast on the loop thread); "off-loop" is the daemon's. Both modes run the same
plan from the same chip state, alternately (`--rounds`), in this one process.

    .venv/bin/python benchmarks/loop_forecast.py [--tasks 100000] [--passes 300] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from photon.v1 import job_pb2
from photon_drivers.clock import ManualClock
from photon_drivers.profile import load_profile
from photon_drivers.sim.driver import SimulatedChipDriver
from photond.jobs.book import JobBook, JobRecord
from photond.jobs.journal import Journal
from photond.loop import closed_loop
from photond.loop.closed_loop import ClosedLoop
from photond.loop.control_config import ControlConfig
from photond.loop.execution import Execution
from photond.planning.device_plan import plan_graph
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.optimize import Level
from photond.planning.plan import Plan

PERIOD_S = 0.01
# The daemon's switch interval (rpc/server.py), so the forecast thread hands the interpreter
# back to this one as it would to the device loop.
SWITCH_INTERVAL_S = 0.001


def job_graph(tasks: int) -> CheckedGraph:
    return CheckedGraph(
        tuple(
            CheckedTask(
                f"t{i}",
                0.01,
                {"h00": 10.0},
                (),
                (f"t{i - 7}",) if i >= 7 and i % 5 == 0 else (),
                0.0,
                0.0,
                0,
            )
            for i in range(tasks)
        )
    )


def play(graph: CheckedGraph, plan: Plan, passes: int, inline: bool, work: Path) -> list[float]:
    """The loop thread's seconds per pass over the job's first `passes` periods."""
    closed_loop.FORECAST_INLINE_TASKS = sys.maxsize if inline else INLINE_TASKS
    profile = load_profile()
    journal = Journal(work / f"{time.monotonic_ns()}.sqlite3")
    book = JobBook(journal)
    record = JobRecord(job_pb2.Job(id="job"), graph, plan)
    book.submit(record, 0.0)
    driver = SimulatedChipDriver(profile, ManualClock(), seed=1)
    loop = ClosedLoop(profile, PERIOD_S, book, ControlConfig())
    loop.prepare(record)  # as DeviceRuntime.enqueue does, off the loop thread
    execution = Execution(record, driver, book, 0.0)
    sample = driver.read_sensors()
    spent: list[float] = []
    try:
        for k in range(passes):
            now_s = k * PERIOD_S
            started = time.perf_counter()
            may_start = loop.may_start(execution, now_s, sample)
            execution.step(now_s, sample, may_start)
            spent.append(time.perf_counter() - started)
            time.sleep(PERIOD_S)
    finally:
        loop.close()
        journal.close()
    return spent


INLINE_TASKS = closed_loop.FORECAST_INLINE_TASKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--plan-cache", type=Path, default=Path(".cache/loop_forecast"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    graph = job_graph(args.tasks)
    cached = args.plan_cache / f"plan-{args.tasks}.pickle"
    if cached.exists():
        plan: Plan = pickle.loads(cached.read_bytes())
    else:
        plan = plan_graph(graph, load_profile(), Level.FAST)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(pickle.dumps(plan))
    work = Path(tempfile.mkdtemp(prefix="loop-forecast-"))
    rows: dict[str, dict[str, Any]] = {}
    for round_ in range(1, args.rounds + 1):
        for mode in ("inline", "off-loop"):
            spent_ms = [1e3 * s for s in play(graph, plan, args.passes, mode == "inline", work)]
            ordered = sorted(spent_ms)
            rows[f"{mode} {round_}"] = {
                "first_pass_ms": spent_ms[0],
                "p50_ms": statistics.median(spent_ms),
                "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
                "max_ms": ordered[-1],
                "over_5_ms": sum(1 for s in spent_ms if s > 5.0),
                "passes": len(spent_ms),
            }
    print(f"{args.tasks}-task job, {args.passes} passes of {1e3 * PERIOD_S:g} ms; loop thread ms")
    header = ("mode", "first pass", "p50", "p99", "max", "passes > 5 ms")
    print("  ".join(f"{h:>13}" for h in header))
    for name, row in rows.items():
        cells = [
            name,
            f"{row['first_pass_ms']:.1f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.1f}",
            f"{row['max_ms']:.1f}",
            f"{row['over_5_ms']}/{row['passes']}",
        ]
        print("  ".join(f"{c:>13}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
