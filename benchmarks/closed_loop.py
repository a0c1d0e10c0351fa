"""The closed loop against disturbances: open loop vs reactive throttling vs closed loop.

For each disturbance scenario the same thermally binding job (zone tasks at 24 mW per heater,
above the 20 mW π power: all eight zones at once would settle near 102 °C) is planned once,
from the idle chip, by the daemon's optimiser (SubmitJob's path, BALANCED) to the closed loop's
planning margin (82.5 °C), then run on the
simulated chip (HotSpot's 16 x 16 grid plant) by a real `DeviceRuntime` in three modes:
(i) open loop, (ii) reactive throttling (no task starts while a sensor reads above 83 °C),
(iii) closed loop (observer, forecast, re-plan: the immediate re-time, then the search within
`replan_budget_s`; the table counts the search's plans swapped in and the remaining makespan they
saved). The interlock is on in every mode.

Device time is a `ManualClock` that the loop itself advances to each period's tick, so a run
plays tens of device seconds as fast as the CPU computes the passes and is exactly repeatable;
the loop's period jitter is therefore 0 by construction, and the table reports instead each
pass's wall time p99, which is what becomes jitter on a real-time clock once it exceeds the
period (10 ms). The plant's *true* hottest top-layer cell (`true_temperatures_c`, not a sensor)
is recorded every period to measure time above `max_device_temperature`.

Re-plan latency is also measured on its own: 200 re-plans of a 1,000-task remainder from a
mid-run estimate (`--latency-tasks`).

Usage: python benchmarks/closed_loop.py [--tasks 400] [--json PATH] [--scenarios a,b]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from photon_bench.loop_runs import (
    MODES,
    SCENARIOS,
    original_plan,
    replan_latency,
    run,
    workload,
)
from photon_drivers.profile import load_profile

DEFAULT_JSON = Path(__file__).parent / "results" / "closed_loop.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--latency-tasks", type=int, default=1000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    logging.getLogger("photond").setLevel(logging.ERROR)  # trips are in the table
    profile = load_profile()
    graph = workload(profile, args.tasks)
    plan = original_plan(profile, graph)
    print(
        f"job: {args.tasks} tasks, planned makespan {plan.makespan_s:.2f} s, "
        f"predicted peak {plan.predicted_peak_temperature_c:.2f} °C"
    )
    header = (
        f"{'scenario':<18} {'mode':<8} {'above s':>8} {'peak C':>7} {'makespan':>8} "
        f"{'state':<9} {'replans':>7} {'search':>6} {'gain s':>6} {'rp p50':>6} {'rp p99':>6} "
        f"{'jit99':>5} {'pass99':>6} "
        "interlock"
    )
    print(header)
    results = []
    for scenario in args.scenarios.split(","):
        for mode in MODES:
            r = run(profile, graph, plan, scenario, mode)
            results.append(r)
            print(
                f"{r.scenario:<18} {r.mode:<8} {r.time_above_limit_s:>8.2f} {r.peak_true_c:>7.2f} "
                f"{r.makespan_s:>8.2f} {r.state:<9} {r.replans:>7} {r.searched:>6} "
                f"{r.search_gain_s:>6.2f} {r.replan_p50_ms:>6.2f} "
                f"{r.replan_p99_ms:>6.2f} {r.jitter_p99_ms:>5.2f} {r.pass_p99_ms:>6.2f} "
                f"{r.interlock}",
                flush=True,
            )
    latency = replan_latency(profile, args.latency_tasks, 200)
    print(
        f"re-plan of {latency['tasks']} remaining tasks: p50 {latency['p50_ms']:.2f} ms, "
        f"p99 {latency['p99_ms']:.2f} ms"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "tasks": args.tasks,
                "planned_makespan_s": plan.makespan_s,
                "planned_peak_c": plan.predicted_peak_temperature_c,
                "runs": [r.__dict__ for r in results],
                "replan_latency": latency,
            },
            indent=2,
            default=lambda v: None if isinstance(v, float) and math.isnan(v) else v,
        )
    )


if __name__ == "__main__":
    main()
