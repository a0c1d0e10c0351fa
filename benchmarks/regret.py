"""The closed loop's regret against the clairvoyant, taken apart, old and new trigger side by side.

The comparative study (`comparative.py`, docs/study.md) reports regret = closed-loop makespan
over the clairvoyant's, minus 1. This script splits it, on the study's synthetic workload (the one
where heat binds), its seeds, scenarios and search budget, into

* the loop's own cost: closed loop over photond's plan played open loop (c), the same plan, the
  same plant — what re-planning costs or saves;
* the plan's gap: photond's plan open loop over the clairvoyant plan, both open loop — what
  planning without knowing the disturbance costs, *and* the search noise between two searches
  of a few rounds on two models (where (c) breaks the limit it is no candidate);

and plays the closed loop twice per unit, with the forecast trigger as it was (the forecast
model alone: `confirm_forecasts` off) and as it is (a crossing confirmed by the full model,
`closed_loop._peak_forecast`), in the same run on the same plans. Time above the limit (the
plant's hottest cell above `max_device_temperature_c`) is reported beside each makespan.

Every run but the old trigger's goes through the study's own harness (`comparative.run`: the
closed loop as it is, off-loop work paced at real time), so each also reports the worst phase
error of drift-sensitive tasks on the plant and how many broke their tolerance, as the study
measures them (docs/study.md); `--variants new` plays only the loop as it is.

It also reports a *paired* regret: against the faster of the clairvoyant plan and photond's own
plan, counting only one that kept the disturbed plant under the limit open loop. Both are plans
the same optimiser made with the same budget; the clairvoyant may pick either, so a clairvoyant
search that came out slower than the nominal plan on a plant where the nominal plan is safe
(a cooler plant) is search noise, not the loop's regret. This pairing can only raise regret.

And, per seed, the model error at zero disturbance that made the old trigger re-plan: photond's
plan forecast from the idle chip by the planner (its prediction), the forecast model (6 modes,
the rest residualised) and the observer's full model.

Per scenario too (`per_scenario` in the JSON): the same medians and sums over its seeds.

Usage: python benchmarks/regret.py [--seeds 2] [--tasks 240] [--rounds 2] [--repeats 1]
       [--scenarios none "plant +20 %" ...] [--variants new ...]
       [--json benchmarks/results/regret.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from photon_bench.comparative import (
    SCENARIOS,
    RunMetrics,
    photond_plan,
    synthetic_workload,
    true_profile,
)
from photon_bench.comparative import run as study_run
from photon_bench.loop_runs import RunResult, run
from photon_drivers.profile import DeviceProfile, load_profile
from photond.loop.closed_loop import full_model_peak
from photond.loop.observer import Observer
from photond.planning.device_plan import device_thermal
from photond.planning.drift import drift_limits_k
from photond.planning.graph import CheckedGraph
from photond.planning.job_tables import JobForecast
from photond.planning.plan import Plan

DEFAULT_JSON = Path(__file__).parent / "results" / "regret.json"
PERIOD_S = 0.01
# As comparative.HOLD_TIMEOUT_S: an interlock trip holds the job until the chip cools.
HOLD_TIMEOUT_S = 120.0
# Where the plant's true conditions are the nominal ones the clairvoyant plan is photond's.
NOMINAL = ("none", "failed sensor")


def model_error(profile: DeviceProfile, graph: CheckedGraph, plan: Plan) -> dict[str, float]:
    """The plan's peak from the idle chip: predicted by the planner, forecast by the loop's
    forecast model (6 modes) and by the observer's full model (16 modes)."""
    observer = Observer(profile, PERIOD_S)
    estimate = observer.estimate()
    fc = JobForecast(
        graph, observer.model, drift_limits_k(graph, profile, observer.model.heater_ids)
    )
    rows = fc.plan_rows(plan, tuple(lane.id for lane in profile.lanes))
    start = np.rint(rows.start_s / PERIOD_S).astype(np.int64)
    end = start + fc.duration[rows.rows]
    forecast = fc.forecast_rows(estimate, rows.rows, start, end)
    full_c, _ = full_model_peak(fc, estimate, rows.rows, start, end)
    return {
        "planned_c": plan.predicted_peak_temperature_c,
        "forecast_model_c": forecast.peak_c,
        "full_model_c": full_c,
    }


# The closed loop's variants, each played on every unit: "old" is the loop and the harness as
# the study ran them (the forecast model alone triggers; off-loop work at manual time's pace),
# "old paced" the same loop with off-loop work paced at real time (`loop_runs.RecordingSim`),
# "new" the loop as it is (a crossing confirmed by the full model), paced.
VARIANTS: dict[str, dict[str, bool]] = {
    "old": {"confirm_forecasts": False, "paced": False},
    "old paced": {"confirm_forecasts": False, "paced": True},
    "new": {"confirm_forecasts": True, "paced": True},
}


def play(
    profile: DeviceProfile,
    graph: CheckedGraph,
    plan: Plan,
    scenario: str,
    seed: int,
    mode: str,
    **variant: bool,
) -> dict[str, Any]:
    """One run's figures: the study's harness for the loop as it is (and open loop), the
    benchmark's for the old trigger's variants."""
    if variant and variant != VARIANTS["new"]:
        options = {**SCENARIOS[scenario].options, "seed": str(seed)}
        return figures(
            run(profile, graph, plan, scenario, mode, options, HOLD_TIMEOUT_S, **variant)
        )
    return study_figures(
        study_run(profile, graph, plan, SCENARIOS[scenario], mode, label=mode, seed=seed)
    )


def figures(result: RunResult) -> dict[str, Any]:
    return {
        "makespan_s": result.makespan_s,
        "above_s": result.time_above_limit_s,
        "peak_c": result.peak_true_c,
        "replans": result.replans,
        "unconfirmed": result.unconfirmed,
        "state": result.state,
        "phase_rad": math.nan,
        "over_tolerance": 0,
    }


def study_figures(result: RunMetrics) -> dict[str, Any]:
    return {
        "makespan_s": result.makespan_s,
        "above_s": result.time_above_limit_s,
        "peak_c": result.peak_c,
        "replans": result.replans,
        "unconfirmed": 0,
        "state": result.state,
        "phase_rad": result.worst_phase_error_rad,
        "over_tolerance": result.drift_tasks_over_tolerance,
    }


def unit(
    profile: DeviceProfile,
    graph: CheckedGraph,
    plan: Plan,
    scenario: str,
    seed: int,
    rounds: int,
    repeats: int,
    workdir: Path,
    variants: list[str],
) -> dict[str, Any]:
    """One (seed, scenario): the clairvoyant plan, then every run."""
    if scenario in NOMINAL:
        clairvoyant = plan
    else:
        clairvoyant = photond_plan(
            graph, true_profile(profile, SCENARIOS[scenario], workdir), seed, rounds
        )
    own = play(profile, graph, plan, scenario, seed, "open")
    clair = (
        own if clairvoyant is plan else play(profile, graph, clairvoyant, scenario, seed, "open")
    )
    # The variants alternate, so that all see the same machine load.
    closed: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name in variants:
            closed[name].append(
                play(profile, graph, plan, scenario, seed, "closed", **VARIANTS[name])
            )
    safe = [r["makespan_s"] for r in (clair, own) if r["above_s"] == 0.0]
    return {
        "seed": seed,
        "scenario": scenario,
        "planned_s": plan.makespan_s,
        "clairvoyant_planned_s": clairvoyant.makespan_s,
        "open": own,
        "clairvoyant": clair,
        "paired_clairvoyant_s": min(safe) if safe else clair["makespan_s"],
        "closed": closed,
    }


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def table(units: list[dict[str, Any]]) -> list[str]:
    """Per unit: the references (makespan, time above the limit, worst phase error in rad),
    then per variant the closed loop's makespan (median over repeats), time above the limit,
    re-plans, loop's own cost, regret and worst phase error."""
    names = list(units[0]["closed"]) if units else []
    head = (
        f"{'seed':>4} {'scenario':<14} {'clair s':>7} {'abv':>4} {'ph':>5} {'open s':>7} "
        f"{'abv':>5} {'ph':>5} {'gap':>6} |"
    )
    for name in names:
        head += f" {name + ' s':>13} {'abv':>4} {'rp':>4} {'loop':>6} {'regret':>7} {'ph':>5} |"
    lines = [head + f" {'paired':>7}"]
    for u in units:
        c, o = u["clairvoyant"], u["open"]
        clair, own = c["makespan_s"], o["makespan_s"]
        line = (
            f"{u['seed']:>4} {u['scenario']:<14} {clair:>7.2f} {c['above_s']:>4.2f} "
            f"{c['phase_rad']:>5.3f} {own:>7.2f} {o['above_s']:>5.2f} {o['phase_rad']:>5.3f} "
            f"{100 * (own / clair - 1):>5.1f}% |"
        )
        for name in names:
            runs = u["closed"][name]
            closed_s = median_of(runs, "makespan_s")
            line += (
                f" {closed_s:>13.2f} {median_of(runs, 'above_s'):>4.2f} "
                f"{median_of(runs, 'replans'):>4.1f} {100 * (closed_s / own - 1):>5.1f}% "
                f"{100 * (closed_s / clair - 1):>6.1f}% {max_of(runs, 'phase_rad'):>5.3f} |"
            )
        if "new" in u["closed"]:
            new_s = median_of(u["closed"]["new"], "makespan_s")
            line += f" {100 * (new_s / u['paired_clairvoyant_s'] - 1):>6.1f}%"
        lines.append(line)
    return lines


def max_of(runs: list[dict[str, Any]], key: str) -> float:
    """The largest of `key` over runs, NaN (a run that measured nothing) left out."""
    values = [float(r[key]) for r in runs if not math.isnan(r[key])]
    return max(values) if values else math.nan


def summary(units: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per variant, medians over units (percent) of the regret, the paired regret and the
    loop's own cost, and the closed runs' total time above the limit (median per unit)."""

    def med(values: list[float]) -> float:
        return 100 * float(statistics.median(values))

    out = {}
    for name in units[0]["closed"] if units else ():
        closed = [median_of(u["closed"][name], "makespan_s") for u in units]
        pairs = list(zip(closed, units, strict=True))
        out[name] = {
            "regret_pct": med([c / u["clairvoyant"]["makespan_s"] - 1 for c, u in pairs]),
            "paired_regret_pct": med([c / u["paired_clairvoyant_s"] - 1 for c, u in pairs]),
            "loop_cost_pct": med([c / u["open"]["makespan_s"] - 1 for c, u in pairs]),
            "above_s": sum(median_of(u["closed"][name], "above_s") for u in units),
            "replans": float(sum(median_of(u["closed"][name], "replans") for u in units)),
            "plan_gap_pct": med(
                [u["open"]["makespan_s"] / u["clairvoyant"]["makespan_s"] - 1 for u in units]
            ),
            "worst_phase_rad": max_of(
                [{"v": max_of(u["closed"][name], "phase_rad")} for u in units], "v"
            ),
            "open_worst_phase_rad": max_of([u["open"] for u in units], "phase_rad"),
            "over_tolerance": sum(max_of(u["closed"][name], "over_tolerance") for u in units),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=2, help="search rounds per plan")
    parser.add_argument("--repeats", type=int, default=1, help="closed-loop runs per rule")
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument(
        "--variants",
        nargs="*",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="closed-loop variants to play (default: all)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    started = time.perf_counter()
    profile = load_profile()
    device_thermal(profile)  # the model once, outside every plan's budget
    units, errors = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            graph = synthetic_workload(profile, args.tasks, seed)
            plan = photond_plan(graph, profile, seed, args.rounds)
            errors.append({"seed": seed, **model_error(profile, graph, plan)})
            e = errors[-1]
            print(
                f"seed {seed}: plan {plan.makespan_s:.2f} s; its peak from idle: planned "
                f"{e['planned_c']:.2f} C, forecast model {e['forecast_model_c']:.2f} C, "
                f"full model {e['full_model_c']:.2f} C",
                flush=True,
            )
            for scenario in args.scenarios:
                units.append(
                    unit(
                        profile,
                        graph,
                        plan,
                        scenario,
                        seed,
                        args.rounds,
                        args.repeats,
                        Path(tmp),
                        args.variants,
                    )
                )
                print(table(units)[-1], flush=True)
    lines = table(units)
    result = {
        "command": "python benchmarks/regret.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": os.getloadavg()[0],
        "seeds": args.seeds,
        "tasks": args.tasks,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "model_error": errors,
        "units": units,
        "summary": summary(units),
        "per_scenario": {
            scenario: summary([u for u in units if u["scenario"] == scenario])
            for scenario in args.scenarios
        },
        "wall_s": time.perf_counter() - started,
    }
    print()
    print("\n".join(lines))
    print(
        "\nmedians over units (regret = closed / clairvoyant - 1; loop = closed / own plan open):"
    )
    for name, m in result["summary"].items():
        print(
            f"  {name:<10} regret {m['regret_pct']:6.2f} %  paired {m['paired_regret_pct']:6.2f} %"
            f"  loop {m['loop_cost_pct']:6.2f} %  plan gap {m['plan_gap_pct']:6.2f} %"
            f"  above the limit {m['above_s']:.2f} s  re-plans {m['replans']:.0f}"
            f"  worst phase {m['worst_phase_rad']:.3f} rad (open {m['open_worst_phase_rad']:.3f})"
            f", over tolerance {m['over_tolerance']:.0f}"
        )
    print("\nper scenario (medians over seeds; time above, re-plans, over tolerance summed):")
    for scenario, by_variant in result["per_scenario"].items():
        for name, m in by_variant.items():
            print(
                f"  {scenario:<14} {name:<6} regret {m['regret_pct']:6.2f} %"
                f"  loop {m['loop_cost_pct']:6.2f} %  plan gap {m['plan_gap_pct']:6.2f} %"
                f"  above {m['above_s']:.2f} s  re-plans {m['replans']:.0f}"
                f"  over tolerance {m['over_tolerance']:.0f}"
            )
    print(f"({result['wall_s'] / 60:.1f} min)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
