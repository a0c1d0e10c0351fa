"""The comparative study (docs/study.md): every run, the statistics, the exact reference and
the report, importable so that `benchmarks/comparative.py` and `photonctl bench` run the same
study.

Workloads x seeds x disturbance scenarios, each job executed on the simulated chip under
(a) thermal-unaware planning with the interlock only, (b) reactive throttling, (c) photond's
plan open loop and (d) photond's closed loop (`photon_bench.comparative`: one run), against two
references: the clairvoyant plan (the same optimiser and budget on the disturbed plant's true
model) and, on small instances, CP-SAT's proven optimum of the same compact model
(`benchmarks/comparative_cpsat.py`, run in the `.venv-cpsat` environment `make bench-cpsat`
builds). Statistics are paired per (workload, seed, scenario): Wilcoxon signed-rank tests,
matched-pairs rank-biserial effect sizes and bootstrap confidence intervals (scipy). Every
figure in the tables, the PNGs and the JSON comes from the run that writes them.

`run_study(StudyConfig(...))` runs it and returns the result (the JSON document); the report
functions (`scenario_table`, `write_doc`, `figures`, ...) turn a result into text and PNGs.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from photon_bench.comparative import (
    EXACT_PERIOD_S,
    SCENARIOS,
    STRATEGIES,
    STRATEGY_LABELS,
    WORKLOADS,
    RunMetrics,
    exact_arrays,
    exact_graph,
    onset_s,
    photond_plan,
    run,
    true_profile,
    unaware_plan,
)
from photon_drivers.profile import DeviceProfile, load_profile
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.optimize import Level, ThermallyInfeasible, optimize, within_limits
from photond.planning.plan import Plan
from photond.planning.validator import validate_schedule

# The CP-SAT model, a script the CP-SAT environment runs (it imports nothing of photond); it
# sits beside this package in a checkout, and is absent from an installed wheel.
CPSAT_SCRIPT = Path(__file__).resolve().parents[1] / "comparative_cpsat.py"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
# Loop modes and plans of each strategy: (a) and (b) run the heat-blind plan.
MODE = {"unaware": "open", "reactive": "reactive", "open": "open", "closed": "closed"}
METRICS = (
    ("makespan_s", "makespan s"),
    ("time_above_limit_s", "above limit s"),
    ("peak_c", "peak °C"),
    ("peak_gradient_c_per_mm", "grad °C/mm"),
    ("aging_hours", "aging h"),
    ("worst_phase_error_rad", "phase rad"),
    ("replans", "re-plans"),
)
BOOTSTRAP_RESAMPLES = 2000
# Seeds tried for a thermally binding exact instance of each size.
EXACT_TRIES = 20

Log = Callable[[str], None]


@dataclass(frozen=True)
class StudyConfig:
    """What one study runs. `PRESETS` holds the named ones (docs/study.md).

    Attributes:
        workloads: names of `photon_bench.comparative.WORKLOADS`.
        scenarios: names of `photon_bench.comparative.SCENARIOS`.
        seeds: seeds 0 .. seeds - 1 of every workload (its graph, weights and plans).
        tasks: tasks of the synthetic workload.
        layers: the first GEMMs of each model workload.
        rounds: search rounds of every plan (photond's, the heat-blind one, the clairvoyant).
        exact: CP-SAT instances (8 to 20 tasks); 0 runs no exact reference.
        cpsat_limit_s: CP-SAT's time to prove each instance.
        cpsat_python: the interpreter of the CP-SAT environment.
    """

    workloads: tuple[str, ...] = tuple(WORKLOADS)
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    seeds: int = 2
    tasks: int = 240
    layers: int = 6
    rounds: int = 2
    exact: int = 3
    cpsat_limit_s: float = 30.0
    cpsat_python: Path = CPSAT_SCRIPT.parents[1] / ".venv-cpsat" / "bin" / "python"

    def __post_init__(self) -> None:
        for name in self.workloads:
            if name not in WORKLOADS:
                raise ValueError(f"workloads: unknown {name!r}; known: {', '.join(WORKLOADS)}")
        for name in self.scenarios:
            if name not in SCENARIOS:
                raise ValueError(f"scenarios: unknown {name!r}; known: {', '.join(SCENARIOS)}")
        if not self.workloads or not self.scenarios:
            raise ValueError("workloads and scenarios: at least one of each")
        for field in ("seeds", "tasks", "layers", "rounds"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field}: at least 1, got {getattr(self, field)}")
        if self.exact < 0 or not self.cpsat_limit_s > 0:
            raise ValueError("exact: 0 or more; cpsat_limit_s: positive")


# The named studies. `quick` is what docs/study.md shows (target: 10 minutes on 2 cores),
# `full` the study with 8 seeds, `short` what `photonctl bench` runs by default (a minute or
# two: one seed, a smaller synthetic job, no exact reference).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"seeds": 2, "tasks": 240, "layers": 6, "rounds": 2, "exact": 3,
              "cpsat_limit_s": 30.0},
    "full": {"seeds": 8, "tasks": 400, "layers": 16, "rounds": 20, "exact": 13,
             "cpsat_limit_s": 300.0},
    "short": {"seeds": 1, "tasks": 120, "layers": 4, "rounds": 2, "exact": 0},
}  # fmt: skip


class Sections:
    """Wall time per section of a study (set-up, each workload's plans and runs, the exact
    reference, statistics), kept in order: where a study's time goes, printed and saved with
    its result (the PNGs and the doc are written after it, untimed)."""

    def __init__(self) -> None:
        self.wall_s: dict[str, float] = {}

    @contextmanager
    def time(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.wall_s[name] = self.wall_s.get(name, 0.0) + time.perf_counter() - started


def run_study(config: StudyConfig, log: Log = print, command: str = "") -> dict[str, Any]:
    """Every run, the exact reference and the statistics of `config`: the result document
    (what `benchmarks/results/comparative.json` holds; `write_doc` and `figures` read it)."""
    sections = Sections()
    started = time.perf_counter()
    load = os.getloadavg()
    with sections.time("setup (profile, the device's models)"):
        profile = load_profile()
        device_thermal(profile)  # the model once, outside every plan's budget
    plans: list[dict[str, Any]] = []
    runs = simulate(config, profile, log, sections, plans)
    with sections.time("exact reference (CP-SAT)"):
        exact_rows = exact(config, profile, log)
    with sections.time("statistics"):
        tests = all_tests(runs)
        regret_rows = regrets(runs)
        headline = {
            "regret": median_ci([r["regret"] for r in regret_rows]),
            "regret_per_workload": per_workload_regret(regret_rows),
            "exact_summary": exact_summary(exact_rows),
        }
    result: dict[str, Any] = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average": load,
        "load_average_end": os.getloadavg(),
        **{k: v for k, v in asdict(config).items() if k not in ("cpsat_python",)},
        "plans": plans,
        "runs": runs,
        "tests": tests,
        "regrets": regret_rows,
        "exact": exact_rows,
        "headline": headline,
        "sections_s": sections.wall_s,
        "wall_s": time.perf_counter() - started,
    }
    return result


def plan_row(plan: Plan, workload: str, seed: int, kind: str, tasks: int) -> dict[str, Any]:
    """What a plan of the study is and what it cost (the optimiser's own `Stats`)."""
    searched = plan.statistics
    return {
        "workload": workload,
        "seed": seed,
        "plan": kind,
        "tasks": tasks,
        "makespan_s": plan.makespan_s,
        "lower_bound_s": plan.lower_bound_s,
        "planning_time_s": plan.planning_time_s,
        "rounds": searched.rounds if searched else 0,
        "evaluations": searched.evaluations if searched else 0,
    }


def simulate(
    config: StudyConfig,
    profile: DeviceProfile,
    log: Log = print,
    sections: Sections | None = None,
    plan_rows: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every (workload, seed, scenario): the four strategies and the clairvoyant, played.
    Each plan made is described in `plan_rows` (`plan_row`) when given."""
    timer = sections or Sections()
    planned = plan_rows if plan_rows is not None else []
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="comparative-") as tmp:
        workdir = Path(tmp)
        for name in config.workloads:
            for seed in range(config.seeds):
                size = config.tasks if name == "synthetic" else config.layers
                with timer.time(f"{name}: plans (photond's, heat-blind)"):
                    graph = WORKLOADS[name](profile, size, seed)
                    plans = {
                        "aware": photond_plan(graph, profile, seed, config.rounds),
                        "unaware": unaware_plan(graph, profile, seed, config.rounds),
                    }
                log(
                    f"{name} seed {seed}: {len(graph.tasks)} tasks, photond plan "
                    f"{plans['aware'].makespan_s:.2f} s (bound {plans['aware'].lower_bound_s:.2f}"
                    f" s), heat-blind plan {plans['unaware'].makespan_s:.2f} s, disturbances from"
                    f" {onset_s(plans['aware'].makespan_s):.2f} s"
                )
                bound_s = plans["aware"].lower_bound_s
                n = len(graph.tasks)
                planned.append(plan_row(plans["aware"], name, seed, "photond", n))
                planned.append(plan_row(plans["unaware"], name, seed, "heat-blind", n))
                # Every disturbance begins inside the job (`onset_s`), at the same moment for
                # every strategy of the unit.
                begins_s = onset_s(plans["aware"].makespan_s)
                for scenario_name in config.scenarios:
                    scenario = SCENARIOS[scenario_name].at(begins_s)
                    unit = {"workload": name, "seed": seed, "scenario": scenario_name}
                    with timer.time(f"{name}: runs (a)-(d)"):
                        for strategy in STRATEGIES:
                            plan = plans[
                                "unaware" if strategy in ("unaware", "reactive") else "aware"
                            ]
                            metrics = run(
                                profile, graph, plan, scenario, MODE[strategy], label=strategy,
                                workload=name, seed=seed,
                            )  # fmt: skip
                            rows.append({**asdict(metrics), "lower_bound_s": bound_s})
                            log(row_line(metrics))
                    if (scenario.ambient_offset_c, scenario.cooling_factor,
                            scenario.conductance_factor) == (0.0, 1.0, 1.0):  # fmt: skip
                        # The plant's true model is the nominal one: the clairvoyant plan is
                        # photond's own, played open loop, which is (c)'s run.
                        rows.append({**rows[-2], "strategy": "clairvoyant"})
                        continue
                    try:
                        with timer.time(f"{name}: clairvoyant plans"):
                            truth = true_profile(profile, scenario, workdir)
                            clairvoyant = photond_plan(graph, truth, seed, config.rounds)
                    except ThermallyInfeasible as exc:
                        log(f"  clairvoyant: no plan ({exc})")
                        rows.append({**unit, "strategy": "clairvoyant", "state": "no plan"})
                        continue
                    kind = f"clairvoyant {scenario_name}"
                    planned.append(plan_row(clairvoyant, name, seed, kind, n))
                    with timer.time(f"{name}: clairvoyant runs"):
                        metrics = run(
                            profile, graph, clairvoyant, scenario, "open", label="clairvoyant",
                            workload=name, seed=seed,
                        )  # fmt: skip
                    rows.append({**asdict(metrics), "lower_bound_s": bound_s})
                    log(row_line(metrics))
    return rows


def row_line(m: RunMetrics) -> str:
    """One run as a progress line, with its wall time."""
    return (
        f"  {m.scenario:<14} {m.strategy:<11} {m.state:<9} makespan {m.makespan_s:7.2f} "
        f"above {m.time_above_limit_s:6.2f} s peak {m.peak_c:6.2f} grad "
        f"{m.peak_gradient_c_per_mm:5.2f} aging {m.aging_hours:.5f} h phase "
        f"{m.worst_phase_error_rad:.3f} ({m.drift_tasks_over_tolerance} over) "
        f"replans {m.replans} trips {m.interlock_trips} [{m.wall_s:.1f} s]"
    )


# --- statistics ------------------------------------------------------------------------------


def paired(rows: list[dict[str, Any]], metric: str, a: str, b: str) -> dict[str, Any]:
    """Paired comparison of `metric` between strategies `a` and `b` over every unit both ran.

    Differences are a - b. Wilcoxon signed-rank (two-sided; zero differences split between
    the ranks, `zsplit`), the matched-pairs rank-biserial correlation as effect size (+1: `a`
    larger in every pair), and a percentile bootstrap CI of the median difference.
    """
    by_unit: dict[tuple[Any, ...], dict[str, float]] = {}
    for r in rows:
        value = r.get(metric)
        if value is None or not math.isfinite(value):
            continue
        by_unit.setdefault((r["workload"], r["seed"], r["scenario"]), {})[r["strategy"]] = value
    diffs = np.array([u[a] - u[b] for u in by_unit.values() if a in u and b in u])
    out: dict[str, Any] = {"metric": metric, "a": a, "b": b, "pairs": int(diffs.size)}
    if diffs.size == 0:
        return out
    out["median_difference"] = float(np.median(diffs))
    out["a_larger"] = int((diffs > 0).sum())
    out["b_larger"] = int((diffs < 0).sum())
    nonzero = diffs[diffs != 0]
    if nonzero.size:
        ranks = stats.rankdata(np.abs(nonzero))
        plus, minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
        out["rank_biserial"] = float((plus - minus) / (plus + minus))
    else:
        out["rank_biserial"] = 0.0
    if nonzero.size >= 2:
        out["wilcoxon_p"] = float(stats.wilcoxon(diffs, zero_method="zsplit").pvalue)
    if diffs.size >= 2 and np.ptp(diffs) > 0:
        out["median_ci95"] = median_ci95(diffs)
    return out


def all_tests(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each metric, (a), (b) and (c) against (d), per workload: jobs of 0.1 s and of 20 s
    pooled would let the short ones' period-sized differences decide the signs."""
    out = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        mine = [r for r in rows if r["workload"] == workload]
        for metric in ("makespan_s", "time_above_limit_s", "peak_c", "aging_hours",
                       "worst_phase_error_rad"):  # fmt: skip
            for a in ("unaware", "reactive", "open"):
                out.append({"workload": workload, **paired(mine, metric, a, "closed")})
    return out


def regrets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Closed-loop makespan over the clairvoyant's, minus one, per unit where both exist."""
    units: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for r in rows:
        units.setdefault((r["workload"], r["seed"], r["scenario"]), {})[r["strategy"]] = r
    out = []
    for (workload, seed, scenario), u in units.items():
        closed, clair = u.get("closed"), u.get("clairvoyant")
        if not closed or not clair or clair.get("state") != "completed":
            continue
        if not math.isfinite(closed.get("makespan_s", math.nan)):
            continue
        out.append(
            {
                "workload": workload,
                "seed": seed,
                "scenario": scenario,
                "closed_s": closed["makespan_s"],
                "clairvoyant_s": clair["makespan_s"],
                "clairvoyant_above_s": clair["time_above_limit_s"],
                "regret": closed["makespan_s"] / clair["makespan_s"] - 1.0,
            }
        )
    return out


def per_workload_regret(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The regret's median per workload: a pooled median hides a workload heat never binds."""
    names = dict.fromkeys(r["workload"] for r in rows)
    return {w: median_ci([r["regret"] for r in rows if r["workload"] == w]) for w in names}


def median_ci(values: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(values)}
    if not values:
        return out
    out["median"] = float(np.median(values))
    if len(values) >= 2 and np.ptp(values) > 0:
        out["ci95"] = median_ci95(np.array(values))
    return out


def median_ci95(values: np.ndarray[Any, Any]) -> list[float]:
    """A percentile bootstrap 95 % confidence interval of the median (fixed seed)."""
    ci = stats.bootstrap(
        (values,),
        np.median,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(0),
    ).confidence_interval
    return [float(ci.low), float(ci.high)]


# --- the exact reference ---------------------------------------------------------------------


def cpsat(arrays: dict[str, Any], limit_s: float, python: Path) -> dict[str, Any]:
    """`comparative_cpsat.py` on `arrays`, in the CP-SAT environment, as a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "instance.npz"
        np.savez(path, **arrays)
        done = subprocess.run(
            [str(python), str(CPSAT_SCRIPT),
             "--instance", str(path), "--time-limit", str(limit_s), "--workers", "2"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def superposed_ok(arrays: dict[str, Any], start: np.ndarray[Any, Any]) -> bool:
    """Whether a schedule keeps the limits by the superposition CP-SAT is given (a check
    that the arrays are the optimiser's model: its own plans must pass)."""
    response, checked = arrays["response"], int(arrays["checked_ticks"])
    y = np.zeros((checked, response.shape[2]))
    for i, s in enumerate(start.tolist()):
        span = min(response.shape[1], checked - s)
        if span > 0:
            y[s : s + span] += response[i, :span]
    grad = np.abs(y[:, arrays["pair_first"]] - y[:, arrays["pair_second"]])
    grad *= arrays["pair_inv_distance_per_mm"]
    return bool(
        y.max() <= float(arrays["max_rise_k"]) + 1e-9
        and grad.max() <= float(arrays["max_gradient_c_per_mm"]) + 1e-9
    )


def exact(config: StudyConfig, profile: DeviceProfile, log: Log = print) -> list[dict[str, Any]]:
    """Small thermally binding instances: the optimiser at BALANCED against CP-SAT."""
    if config.exact == 0:
        return []
    python = Path(config.cpsat_python)
    if not python.exists() or not CPSAT_SCRIPT.exists():
        missing = python if not python.exists() else CPSAT_SCRIPT
        log(f"exact reference skipped: {missing} missing (run `make bench-cpsat` first)")
        return []
    device = device_thermal(profile, EXACT_PERIOD_S)
    rows: list[dict[str, Any]] = []
    seed = 0
    sizes = np.linspace(8, 20, config.exact).round().astype(int) if config.exact > 1 else [12]
    for size in sizes:
        # The first seed whose instance is thermally binding: the heat-blind plan breaks a limit.
        for _ in range(EXACT_TRIES):
            graph = exact_graph(profile, int(size), seed)
            seed += 1
            inst = graph_instance(graph, device).instance
            blind = optimize(replace(inst, thermal=None), Level.FAST)
            if inst.thermal is not None and not within_limits(
                inst.thermal, blind.start, inst.duration
            ):
                break
        else:
            log(f"exact n={size}: no thermally binding instance in {EXACT_TRIES} seeds")
            continue
        assert inst.thermal is not None
        fast = optimize(inst, Level.FAST)
        arrays = exact_arrays(inst, fast.makespan_ticks)
        started = time.perf_counter()
        balanced = optimize(inst, Level.BALANCED, seed=0)
        balanced_s = time.perf_counter() - started
        proof = cpsat(arrays, config.cpsat_limit_s, python)
        same_time = cpsat(arrays, max(balanced_s, 0.1), python)
        row: dict[str, Any] = {
            "tasks": int(size),
            "instance_seed": seed - 1,
            "horizon_ticks": fast.makespan_ticks,
            "fast_ticks": fast.makespan_ticks,
            "balanced_ticks": balanced.makespan_ticks,
            "balanced_s": balanced_s,
            "balanced_trace_ok": superposed_ok(arrays, balanced.start),
            "cpsat": proof,
            "cpsat_same_time": same_time,
        }
        if proof.get("start") is not None:
            # CP-SAT's schedule checked by the planner's own code: the validator (precedence,
            # lanes, heaters) and the thermal trace of its tables.
            cp_start = np.array(proof["start"], dtype=np.int64)
            row["cpsat_valid"] = validate_schedule(inst, cp_start) == [] and within_limits(
                inst.thermal, cp_start, inst.duration
            )
        if proof.get("proven"):
            started = time.perf_counter()
            at_proof = optimize(inst, Level.BALANCED, seed=0, time_limit_s=proof["time_s"])
            row["at_proof_ticks"] = at_proof.makespan_ticks
            row["at_proof_s"] = time.perf_counter() - started
            optimum = proof["makespan"]
            row["gap_balanced"] = balanced.makespan_ticks / optimum - 1
            row["gap_at_proof"] = at_proof.makespan_ticks / optimum - 1
        elif proof.get("bound"):
            row["gap_balanced_to_bound"] = balanced.makespan_ticks / proof["bound"] - 1
        if same_time.get("makespan"):
            row["cpsat_same_time_vs_balanced"] = same_time["makespan"] / balanced.makespan_ticks - 1
        rows.append(row)
        log(
            f"exact n={size:2d}: FAST {fast.makespan_ticks} BALANCED {balanced.makespan_ticks} "
            f"({balanced_s:.2f} s) CP-SAT {proof.get('makespan')} proven {proof.get('proven')} "
            f"bound {proof.get('bound')} in {proof['time_s']:.1f} s ({proof['rounds']} rounds, "
            f"{proof['cuts']} cuts); CP-SAT at equal time {same_time.get('makespan')} "
            f"(bound {same_time.get('bound')}); BALANCED at CP-SAT's time "
            f"{row.get('at_proof_ticks')}"
        )
    return rows


# --- report ----------------------------------------------------------------------------------
# --- report ----------------------------------------------------------------------------------


def scenario_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: mean of each metric per scenario and strategy, over seeds (one workload's
    rows: `write_doc` makes a table per workload)."""
    head = "| scenario | strategy | runs | " + " | ".join(label for _, label in METRICS)
    head += " | trips | efficiency |"
    lines = [head, "|" + "---|" * (len(METRICS) + 5)]
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    for scenario in scenarios:
        for strategy in (*STRATEGIES, "clairvoyant"):
            group = [
                r
                for r in rows
                if r["scenario"] == scenario
                and r["strategy"] == strategy
                and r.get("state") not in (None, "no plan")
            ]
            if not group:
                continue
            cells = []
            for key, _ in METRICS:
                values = [r[key] for r in group if math.isfinite(r[key])]
                cells.append(f"{statistics.fmean(values):.4g}" if values else "-")
            trips = sum(r["interlock_trips"] for r in group)
            eff = [r["lower_bound_s"] / r["makespan_s"] for r in group if r["makespan_s"] > 0]
            label = STRATEGY_LABELS.get(strategy, "clairvoyant (reference)")
            lines.append(
                f"| {scenario} | {label} | {len(group)} | " + " | ".join(cells)
                + f" | {trips} | {statistics.fmean(eff):.3f} |"
            )  # fmt: skip
    return "\n".join(lines)


def tests_table(tests: list[dict[str, Any]]) -> str:
    lines = [
        "| workload | metric | pair (a - b) | pairs | median diff | 95 % CI | a larger / b larger "
        "| rank-biserial | Wilcoxon p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in tests:
        ci = t.get("median_ci95")
        lines.append(
            f"| {t.get('workload', 'all')} | {t['metric']} | {t['a']} - {t['b']} | {t['pairs']} | "
            f"{t.get('median_difference', math.nan):.4g} | "
            + (f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "-")
            + f" | {t.get('a_larger', 0)} / {t.get('b_larger', 0)} | "
            f"{t.get('rank_biserial', math.nan):+.2f} | "
            + (f"{t['wilcoxon_p']:.3g}" if "wilcoxon_p" in t else "-")
            + " |"
        )
    return "\n".join(lines)


def exact_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| tasks | horizon | FAST | BALANCED (s) | CP-SAT optimum / bound (s) | proven "
        "| rounds, cuts | CP-SAT plan valid | gap BALANCED | BALANCED at CP-SAT's time "
        "| CP-SAT at BALANCED's time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cp, same = r["cpsat"], r["cpsat_same_time"]
        gap = r.get("gap_balanced", r.get("gap_balanced_to_bound"))
        kind = "" if "gap_balanced" in r else " (to bound)"
        lines.append(
            f"| {r['tasks']} | {r['horizon_ticks']} | {r['fast_ticks']} | "
            f"{r['balanced_ticks']} ({r['balanced_s']:.2f}) | {cp.get('makespan')} / "
            f"{cp.get('bound')} ({cp['time_s']:.1f}) | {cp.get('proven')} | "
            f"{cp['rounds']}, {cp['cuts']} | {r.get('cpsat_valid', '-')} | "
            + (f"{100 * gap:.2f} %{kind}" if gap is not None else "-")
            + f" | {r.get('at_proof_ticks', '-')} | {same.get('makespan')} (bound "
            f"{same.get('bound')}) |"
        )
    return "\n".join(lines)


def figures(rows: list[dict[str, Any]], out: Path) -> list[str]:
    """PNGs under `out`: makespan over the clairvoyant's, time above the limit and peak, per
    scenario and strategy (every run a dot, the median a bar), of the synthetic workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    # The synthetic workload's runs: the models' jobs never come near the limit on the
    # default chip, and their 0.1 s makespans would swamp the bars (the tables have them).
    shown = "synthetic" if any(r["workload"] == "synthetic" for r in rows) else rows[0]["workload"]
    rows = [r for r in rows if r["workload"] == shown]
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    clair = {
        (r["workload"], r["seed"], r["scenario"]): r["makespan_s"]
        for r in rows
        if r["strategy"] == "clairvoyant" and r.get("state") == "completed"
    }
    names = []
    for key, ylabel, fname in (
        ("relative_makespan", "makespan / clairvoyant makespan", "makespan.png"),
        ("time_above_limit_s", "time above the limit (s, plant's hottest cell)", "above.png"),
        ("peak_c", "peak temperature (°C, plant's hottest cell)", "peak.png"),
    ):
        fig, ax = plt.subplots(figsize=(10, 4.2))
        width = 0.8 / len(STRATEGIES)
        for k, strategy in enumerate(STRATEGIES):
            for j, scenario in enumerate(scenarios):
                values = []
                for r in rows:
                    if r["strategy"] != strategy or r["scenario"] != scenario:
                        continue
                    unit = (r["workload"], r["seed"], r["scenario"])
                    if key == "relative_makespan":
                        if unit in clair and math.isfinite(r["makespan_s"]):
                            values.append(r["makespan_s"] / clair[unit])
                    elif math.isfinite(r[key]):
                        values.append(r[key])
                x = j + (k - (len(STRATEGIES) - 1) / 2) * width
                if values:
                    ax.bar(x, float(np.median(values)), width, color=f"C{k}", alpha=0.6,
                           label=STRATEGY_LABELS[strategy] if j == 0 else None)  # fmt: skip
                    ax.plot([x] * len(values), values, "k.", markersize=3)
        if key == "relative_makespan":
            ax.axhline(1.0, color="grey", linewidth=0.8)
            ax.set_ylim(bottom=0.6)
        if key == "peak_c":
            ax.set_ylim(bottom=20)
            ax.axhline(85.0, color="red", linewidth=0.8)
        ax.set_xticks(range(len(scenarios)), scenarios)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{shown}: every run a dot, the median a bar", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=110)
        plt.close(fig)
        names.append(fname)
    return names


def findings(rows: list[dict[str, Any]]) -> list[str]:
    """Where photond's closed loop (d) does not win, read off the runs: per scenario, the
    strategy with the shortest mean makespan among those that never ran above the limit, and
    (d)'s own record."""
    out = []
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        means: dict[str, tuple[float, float]] = {}
        for strategy in STRATEGIES:
            group = [r for r in rows if r["scenario"] == scenario and r["strategy"] == strategy]
            spans = [r["makespan_s"] for r in group if math.isfinite(r["makespan_s"])]
            if group and spans:
                above = statistics.fmean(r["time_above_limit_s"] for r in group)
                means[strategy] = (statistics.fmean(spans), above)
        if "closed" not in means:
            continue
        safe = {k: v for k, v in means.items() if v[1] == 0.0}
        span_d, above_d = means["closed"]
        text = f"**{scenario}**: (d) {span_d:.2f} s, {above_d:.2f} s above the limit on average"
        if safe:
            best = min(safe, key=lambda k: safe[k][0])
            if best == "closed":
                text += "; the fastest of the strategies that never exceeded the limit."
            else:
                text += (
                    f"; **not the best**: {STRATEGY_LABELS[best]} never exceeded the limit "
                    f"either and took {safe[best][0]:.2f} s "
                    f"({100 * (span_d / safe[best][0] - 1):+.1f} % for (d))."
                )
        else:
            text += "; every strategy exceeded the limit in some run."
        out.append(f"- {text}")
    return out


def write_doc(doc: Path, out: Path, result: dict[str, Any], pngs: list[str]) -> None:
    """Replace the results region of `doc` with this run's tables and figures."""
    rel = os.path.relpath(out, doc.parent)
    runs = result["runs"]
    workloads = list(dict.fromkeys(r["workload"] for r in runs))
    h = result["headline"]
    regret = h["regret"]
    lines = [
        BEGIN,
        f"*Generated by `{result['command']}` on {result['date']} in {result['wall_s'] / 60:.1f} "
        f"min ({result['cpus']} CPUs, load average at the start {result['load_average'][0]:.1f}"
        + (
            f", at the end {result['load_average_end'][0]:.1f}"
            if "load_average_end" in result
            else ""
        )
        + "; the machine was shared). Do not edit by hand.*",
        "",
        f"Workloads {', '.join(result['workloads'])}; {result['seeds']} seed(s); "
        f"{result['tasks']} tasks (synthetic), the first {result['layers']} GEMMs (models); "
        f"plans budgeted {result['rounds']} search rounds.",
        "",
        "**Headline.** Closed-loop regret against the clairvoyant: median "
        + (
            f"{100 * regret['median']:.2f} % over {regret['n']} units"
            + (
                f" (95 % CI {100 * regret['ci95'][0]:.2f} … {100 * regret['ci95'][1]:.2f} %)"
                if "ci95" in regret
                else ""
            )
            if regret["n"]
            else "- (no unit had both)"
        )
        + " (target ≤ 5 %); per workload: "
        + "; ".join(
            f"{w} {100 * m['median']:.2f} % (n = {m['n']})"
            for w, m in per_workload_regret(result["regrets"]).items()
        )
        + f". Exact reference: {h['exact_summary']}.",
        "",
        "### Where photond wins and where it does not (means over seeds, per workload)",
        "",
        *(
            line
            for w in workloads
            for line in (f"*{w}*", "", *findings([r for r in runs if r["workload"] == w]), "")
        ),
        "### Per scenario (means over seeds, per workload)",
        "",
        *(
            line
            for w in workloads
            for line in (f"*{w}*", "", scenario_table([r for r in runs if r["workload"] == w]), "")
        ),
        "### Paired tests (per workload; pairs are seeds x scenarios)",
        "",
        tests_table(all_tests(runs)),
        "",
        "### Regret of the closed loop, per unit",
        "",
        "| workload | seed | scenario | closed s | clairvoyant s | clairvoyant above s | regret |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['workload']} | {r['seed']} | {r['scenario']} | {r['closed_s']:.2f} | "
            f"{r['clairvoyant_s']:.2f} | {r['clairvoyant_above_s']:.2f} | "
            f"{100 * r['regret']:+.2f} % |"
            for r in result["regrets"]
        ),
        "",
        f"### Exact reference (CP-SAT, time-indexed, ticks of {EXACT_PERIOD_S:g} s)",
        "",
        exact_table(result["exact"]) if result["exact"] else "Not run.",
        "",
        *(
            ["### Where the run's wall time went", "", sections_table(result), ""]
            if "sections_s" in result
            else []
        ),
        *(f"![{p}]({rel}/{p})" for p in pngs),
        END,
    ]
    text = doc.read_text() if doc.exists() else f"# Study\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    doc.write_text(before + "\n".join(lines) + after)


def exact_summary(rows: list[dict[str, Any]]) -> str:
    proven = [r for r in rows if "gap_balanced" in r]
    if not rows:
        return "not run"
    if not proven:
        return f"CP-SAT proved no optimum on {len(rows)} instance(s)"
    mean = statistics.fmean(r["gap_balanced"] for r in proven)
    at = statistics.fmean(r["gap_at_proof"] for r in proven)
    return (
        f"BALANCED is {100 * mean:.2f} % above CP-SAT's proven optimum on average over "
        f"{len(proven)} of {len(rows)} instances ({100 * at:.2f} % given CP-SAT's time to "
        "proof; target ≤ 1 %)"
    )


def summary_text(result: dict[str, Any]) -> str:
    """A finished study for a terminal: the per-scenario table of each workload, the headline
    and where its wall time went."""
    runs = result["runs"]
    h = result["headline"]
    parts = []
    for w in dict.fromkeys(r["workload"] for r in runs):
        parts += [f"{w}:", scenario_table([r for r in runs if r["workload"] == w]), ""]
    regret = h["regret"]
    parts.append(
        "closed-loop regret against the clairvoyant: "
        + (f"median {100 * regret['median']:.2f} % over {regret['n']} units" if regret["n"]
           else "no unit had both")
        + "; per workload: "
        + "; ".join(
            f"{w} {100 * m['median']:.2f} % (n = {m['n']})" if m["n"] else f"{w} -"
            for w, m in h["regret_per_workload"].items()
        )
    )  # fmt: skip
    parts.append(f"exact reference: {h['exact_summary']}")
    if "sections_s" in result:
        parts += ["", "wall time per section:", sections_table(result), ""]
    start, end = result["load_average"], result.get("load_average_end", [math.nan])
    parts.append(
        f"wall time {result['wall_s'] / 60:.1f} min on {result['cpus']} CPUs "
        f"(load average {start[0]:.1f} at the start, {end[0]:.1f} at the end)"
    )
    return "\n".join(parts)


def sections_table(result: dict[str, Any]) -> str:
    """Markdown: a result's wall time per section (`Sections`)."""
    total = sum(result["sections_s"].values())
    lines = ["| section | wall s | share |", "|---|---|---|"]
    for name, seconds in result["sections_s"].items():
        lines.append(f"| {name} | {seconds:.1f} | {100 * seconds / max(total, 1e-9):.0f} % |")
    return "\n".join(lines)


def save_json(result: dict[str, Any], path: Path, *, strict: bool = False) -> None:
    """Write `result` to `path` (`to_json`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(result, strict=strict))


def to_json(result: dict[str, Any], *, strict: bool = False) -> str:
    """`result` as JSON. A metric that does not apply to a run is NaN (no drift-sensitive task
    measured, no makespan of a failed job): Python's NaN token by default, which
    `--report-only` reads back; null when `strict` (JSON as the standard has it)."""
    if strict:
        return json.dumps(_nan_to_none(result), indent=2, default=json_value, allow_nan=False)
    return json.dumps(result, indent=2, default=json_value)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def json_value(value: Any) -> Any:
    """`json.dumps`'s default for what a result holds besides JSON's own types."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value)}")
