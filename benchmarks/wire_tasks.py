"""How long building a 100k-task JobResult holds the interpreter, built as photond builds it
(`wire.job_result`: one `add` per task) and as it was built before (a message per task, then
the list handed to the constructor, which copies it in one C call).

The finisher thread builds a job's result beside the device loop's thread, which needs the
interpreter every control period: what matters is the longest time a thread beside the build
waits for it, not only the build's total. A neighbour thread here wakes every millisecond and
records how late it woke (its longest wait is what the device loop would have waited). Both
ways run on the same tasks, alternating, `--repeats` times each; thread CPU time is the
builder's own work (a loaded machine stretches wall time, not CPU time).

    .venv/bin/python benchmarks/wire_tasks.py [--tasks 100000] [--repeats 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from photon.v1 import job_pb2
from photond.planning.plan import PlannedTask
from photond.wire import job_result

TICK_S = 0.001


def constructor_copy(ran: Sequence[PlannedTask]) -> job_pb2.JobResult:
    """The result as `wire.job_result` built it before: messages first, then one copy."""
    tasks = [
        job_pb2.ScheduledTask(
            task_id=t.task_id, lane_id=t.lane_id, start_s=t.start_s, end_s=t.end_s
        )
        for t in ran
    ]
    return job_pb2.JobResult(tasks=tasks, makespan_s=1.0, peak_temperature_c=80.0, energy_mj=1.0)


def add_per_task(ran: Sequence[PlannedTask]) -> job_pb2.JobResult:
    return job_result(ran, makespan_s=1.0, peak_temperature_c=80.0, energy_mj=1.0)


def measure(
    build: Callable[[Sequence[PlannedTask]], job_pb2.JobResult], ran: list[PlannedTask]
) -> dict[str, float]:
    """One build: its thread CPU and wall ms, and the neighbour's longest wait (ms)."""
    done = threading.Event()
    late_ms: list[float] = []

    def neighbour() -> None:
        while not done.is_set():
            due = time.perf_counter() + TICK_S
            time.sleep(TICK_S)
            late_ms.append(1e3 * (time.perf_counter() - due))

    thread = threading.Thread(target=neighbour)
    thread.start()
    time.sleep(0.05)  # the neighbour is ticking
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    result = build(ran)
    cpu_ms, wall_ms = 1e3 * (time.thread_time() - cpu0), 1e3 * (time.perf_counter() - wall0)
    done.set()
    thread.join()
    assert len(result.tasks) == len(ran)
    return {"cpu_ms": cpu_ms, "wall_ms": wall_ms, "neighbour_max_wait_ms": max(late_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ran = [PlannedTask(f"t{i}", "wl0", 0.01 * i, 0.01 * i + 0.01) for i in range(args.tasks)]
    assert constructor_copy(ran) == add_per_task(ran)  # the same message either way
    ways = {"constructor copy (before)": constructor_copy, "add per task (wire)": add_per_task}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for name, build in ways.items():
            runs[name].append(measure(build, ran))
    load.append(os.getloadavg()[0])
    print(f"{args.tasks} tasks, {args.repeats} runs each, load {load[0]:.1f} -> {load[1]:.1f}")
    print(f"{'way':28} {'cpu ms (median)':>16} {'wall ms':>9} {'neighbour max wait ms':>22}")
    for name, rows in runs.items():
        cells = [statistics.median(r[k] for r in rows) for k in ("cpu_ms", "wall_ms")]
        worst = max(r["neighbour_max_wait_ms"] for r in rows)
        print(f"{name:28} {cells[0]:16.1f} {cells[1]:9.1f} {worst:22.1f}")
    if args.json:
        figures = {"tasks": args.tasks, "load_1m": load, "runs": runs}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
