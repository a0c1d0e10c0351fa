"""Thermal workloads: the optimiser at each level against both baselines, played on the plant.

Synthetic task graphs of 100 / 1k / 10k tasks whose heater powers make the thermal limit bind
(8 lanes of tasks each driving one zone at 150-240 mW, or a few heaters at 20-30 mW: all lanes
busy would dissipate ~1.5 W against the 1.2 W the package carries away at 85 °C). For every
graph: the optimiser at FAST (which is baseline (b), the greedy thermal-aware decoder), BALANCED
and QUALITY, and baseline (a), thermal-unaware list scheduling executed under reactive
throttling. Each plan is checked by the independent validator and then played on the plant —
`photon_drivers.sim.driver.SimulatedChipDriver` on a `ManualClock`, one control period at a time, a
task heating every period it overlaps — to measure time above the limit (on the die's true
hottest top-layer cell, read every period), the die's true peak, the hottest noisy sensor
reading, and the Arrhenius aging (hottest sensor).
Then a scaling table: planning time at FAST and BALANCED from 100 to 100k tasks, with the
exponent of a log-log fit. Last, what each SubmitJob validation level costs: `check_plan` at FAST
with BASIC, STRICT and PARANOID on the same graphs, best of five each, and the extra time of
each level's checks over BASIC (a difference within the timing noise may come out negative).

Usage: python benchmarks/scheduling_thermal.py [--sizes 100 1000 10000] [--scaling 100 ... 100000]
       [--validation-sizes 100 1000 10000] [--json benchmarks/results/scheduling_thermal.json]
       [--no-plant]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from photon.v1 import job_pb2
from photon_bench.baselines import throttled_list_schedule
from photon_drivers.clock import ManualClock
from photon_drivers.profile import DeviceProfile, load_profile
from photon_drivers.sim.driver import SimulatedChipDriver
from photond.model import equivalent_aging_hours
from photond.planning.device_plan import device_thermal, plan_graph
from photond.planning.graph import CheckedGraph
from photond.planning.optimize import Level
from photond.planning.plan import Plan
from photond.planning.validator import validate_plan
from photond.rpc.plan_policy import check_plan
from photond.rpc.validation import check_graph

DEFAULT_JSON = Path(__file__).parent / "results" / "scheduling_thermal.json"


def workload(profile: DeviceProfile, n: int, seed: int) -> CheckedGraph:
    """A random DAG of `n` tasks whose heat makes the limit bind (see the module docstring)."""
    rng = np.random.default_rng(seed)
    zones = [z.id for z in profile.zones]
    heaters = [h.id for h in profile.heaters]
    tasks = []
    for i in range(n):
        deps: set[int] = set()
        if i and rng.random() < 0.3:
            deps = {int(d) for d in rng.integers(max(0, i - 20), i, size=int(rng.integers(1, 3)))}
        task = job_pb2.Task(
            id=f"t{i}",
            duration_s=float(rng.choice([0.1, 0.2, 0.5, 1.0])),
            depends_on=[f"t{d}" for d in sorted(deps)],
        )
        if rng.random() < 0.75:
            zone = zones[int(rng.integers(len(zones)))]
            task.zone_powers.add(zone_id=zone, power_mw=float(rng.uniform(150, 240)))
        else:
            for h in rng.choice(heaters, size=int(rng.integers(2, 5)), replace=False):
                task.heater_powers.add(heater_id=str(h), power_mw=float(rng.uniform(20, 30)))
        tasks.append(task)
    return check_graph(job_pb2.TaskGraph(tasks=tasks), profile, n + 1)


def play_on_plant(graph: CheckedGraph, plan: Plan, profile: DeviceProfile) -> dict[str, float]:
    """Run a plan's heater powers on the simulated chip; time above the limit, peak, aging."""
    dt = device_thermal(profile).model.dt_s
    clock = ManualClock()
    driver = SimulatedChipDriver(profile, clock, seed=1)
    tasks = graph.by_id()
    periods = math.ceil(plan.makespan_s / dt - 1e-9) + 10
    delta: dict[int, dict[str, float]] = {}
    for p in plan.tasks:
        first, last = math.floor(p.start_s / dt + 1e-9), math.ceil(p.end_s / dt - 1e-9)
        for h, mw in tasks[p.task_id].heater_power_mw.items():
            delta.setdefault(first, {})[h] = delta.get(first, {}).get(h, 0.0) + mw
            delta.setdefault(last, {})[h] = delta.get(last, {}).get(h, 0.0) - mw
    power: dict[str, float] = {}
    limit_c = profile.limits.max_device_temperature_c
    trace = np.empty((periods, len(profile.sensors)))
    hottest_c = np.empty(periods)
    for k in range(periods):
        if k in delta:
            for h, d in delta[k].items():
                power[h] = max(0.0, power.get(h, 0.0) + d)
            driver.set_heater_powers({h: p for h, p in power.items() if p > 1e-9})
        clock.advance(dt)
        trace[k] = driver.read_sensors().temperature_c
        hottest_c[k] = driver.true_temperatures_c().max()
    # The limit is the plant's true hottest cell's, every period (docs/architecture.md).
    return {
        "time_above_limit_s": float((hottest_c > limit_c).sum() * dt),
        "plant_peak_sensor_c": float(trace.max()),
        "plant_peak_die_c": float(hottest_c.max()),
        "aging_hours": float(equivalent_aging_hours(trace, dt).max()),
    }


def evaluate(
    name: str, graph: CheckedGraph, plan: Plan, profile: DeviceProfile, plant: bool
) -> dict[str, Any]:
    model = device_thermal(profile).compact
    row: dict[str, Any] = {
        "planner": name,
        "makespan_s": plan.makespan_s,
        "lower_bound_s": plan.lower_bound_s,
        "ratio_to_bound": plan.makespan_s / plan.lower_bound_s if plan.lower_bound_s else 1.0,
        "predicted_peak_c": plan.predicted_peak_temperature_c,
        "planning_time_s": plan.planning_time_s,
        "valid_structure": validate_plan(graph, plan.tasks, profile, model, thermal=False) == [],
        "valid_thermal": validate_plan(graph, plan.tasks, profile, model) == [],
    }
    if plant:
        row.update(play_on_plant(graph, plan, profile))
    return row


def quality_table(profile: DeviceProfile, sizes: list[int], plant: bool) -> list[dict[str, Any]]:
    rows = []
    print(
        f"{'tasks':>6} {'planner':28} {'makespan':>9} {'bound':>8} {'x bound':>7} "
        f"{'peak°C':>7} {'above s':>7} {'aging h':>8} {'plan s':>7} valid"
    )
    for n in sizes:
        graph = workload(profile, n, seed=n)
        plans = {}
        for level in (Level.FAST, Level.BALANCED, Level.QUALITY):
            plans[f"optimizer {level.name}"] = plan_graph(graph, profile, level)
        started = time.perf_counter()
        baseline = throttled_list_schedule(graph, device_thermal(profile))
        baseline = Plan(
            baseline.tasks,
            baseline.makespan_s,
            plans["optimizer FAST"].lower_bound_s,
            baseline.planner,
            time.perf_counter() - started,
        )
        plans["baseline (a) throttled list"] = baseline
        for name, plan in plans.items():
            row = {"tasks": n, **evaluate(name, graph, plan, profile, plant)}
            rows.append(row)
            peak_c = row.get("plant_peak_sensor_c", row["predicted_peak_c"])
            above_s = row.get("time_above_limit_s", float("nan"))
            aging_h = row.get("aging_hours", float("nan"))
            valid = row["valid_structure"] and row["valid_thermal"]
            print(
                f"{n:6d} {name:28} {row['makespan_s']:9.2f} {row['lower_bound_s']:8.2f} "
                f"{row['ratio_to_bound']:7.3f} {peak_c:7.2f} {above_s:7.2f} {aging_h:8.4f} "
                f"{row['planning_time_s']:7.3f} {valid}",
                flush=True,
            )
    return rows


def scaling_table(profile: DeviceProfile, sizes: list[int]) -> dict[str, Any]:
    print(f"\n{'tasks':>7} {'FAST s':>8} {'BALANCED s':>11}")
    times: dict[str, list[float]] = {"FAST": [], "BALANCED": []}
    for n in sizes:
        graph = workload(profile, n, seed=n)
        for level in (Level.FAST, Level.BALANCED):
            # Best of three below 100k tasks: the machine is shared, the planner is not noisy.
            runs = []
            for _ in range(3 if n < 100_000 else 1):
                started = time.perf_counter()
                plan_graph(graph, profile, level)
                runs.append(time.perf_counter() - started)
            times[level.name].append(min(runs))
        print(f"{n:7d} {times['FAST'][-1]:8.3f} {times['BALANCED'][-1]:11.3f}", flush=True)
    fits = {
        name: float(np.polyfit(np.log(sizes), np.log(values), 1)[0])
        for name, values in times.items()
    }
    print(f"fitted exponent (time ~ n^k): FAST {fits['FAST']:.2f}, BALANCED {fits['BALANCED']:.2f}")
    return {"sizes": sizes, "times_s": times, "exponent": fits}


# photon.v1 numbers: OptimizationLevel FAST; ValidationLevel BASIC, STRICT, PARANOID.
OPTIMIZATION_FAST = 1
VALIDATION_LEVELS = {"BASIC": 1, "STRICT": 2, "PARANOID": 3}
VALIDATION_REPEATS = 5


def validation_table(profile: DeviceProfile, sizes: list[int]) -> list[dict[str, Any]]:
    """Planning time of `check_plan` at FAST per validation level; each level's extra over BASIC.

    Levels take turns within every repeat, so a change of machine load hits them alike; the
    best of the repeats is kept.
    """
    names = list(VALIDATION_LEVELS)
    print(
        f"\n{'tasks':>7} "
        + " ".join(f"{name + ' s':>11}" for name in names)
        + " "
        + " ".join(f"{'+' + name + ' ms':>13}" for name in names[1:])
    )
    rows = []
    for n in sizes:
        graph = workload(profile, n, seed=n)
        best_s = dict.fromkeys(names, math.inf)
        for _ in range(VALIDATION_REPEATS):
            for name, level in VALIDATION_LEVELS.items():
                started = time.perf_counter()
                check_plan(graph, profile, OPTIMIZATION_FAST, level)
                best_s[name] = min(best_s[name], time.perf_counter() - started)
        extra_ms = {name: 1e3 * (best_s[name] - best_s["BASIC"]) for name in names[1:]}
        rows.append({"tasks": n, "planning_time_s": best_s, "extra_over_basic_ms": extra_ms})
        print(
            f"{n:7d} "
            + " ".join(f"{best_s[name]:11.3f}" for name in names)
            + " "
            + " ".join(f"{extra_ms[name]:13.1f}" for name in names[1:]),
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument(
        "--scaling", type=int, nargs="*", default=[100, 1000, 3000, 10000, 30000, 100000]
    )
    parser.add_argument("--no-plant", action="store_true", help="skip playing plans on the plant")
    parser.add_argument(
        "--validation-sizes",
        type=int,
        nargs="*",
        default=[100, 1000, 10000],
        help="graph sizes for the validation-level cost table (none: skip it)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    profile = load_profile()
    from photond.planning.device_plan import warm_up

    warm_up(profile)
    result = {
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "quality": quality_table(profile, args.sizes, not args.no_plant),
        "scaling": scaling_table(profile, args.scaling) if len(args.scaling) > 1 else None,
        "validation": (
            {
                "optimization_level": "FAST",
                "repeats": VALIDATION_REPEATS,
                "rows": validation_table(profile, args.validation_sizes),
            }
            if args.validation_sizes
            else None
        ),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
