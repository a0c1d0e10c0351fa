"""The comparative study's harness (photon_bench.study and photon_bench.comparative, which
benchmarks/comparative.py and photonctl bench run) on a tiny case: runs on the simulated chip
measured from the plant's record, the clairvoyant's model is the disturbed plant's, the paired
statistics, and CP-SAT's exact reference.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from photon_bench import study
from photon_bench.comparative import (
    EXACT_PERIOD_S,
    ONSET_S,
    SCENARIOS,
    TraceSim,
    exact_arrays,
    exact_graph,
    onset_s,
    photond_plan,
    run,
    synthetic_workload,
    true_profile,
    unaware_plan,
)
from photon_drivers.clock import ManualClock
from photon_drivers.plant.chip import chip_network
from photon_drivers.profile import load_profile
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.optimize import Level, optimize

ROOT = Path(__file__).resolve().parents[1]
CPSAT_PYTHON = ROOT / ".venv-cpsat" / "bin" / "python"


def test_heat_blind_plan_runs_above_the_limit_where_the_closed_loop_does_not() -> None:
    profile = load_profile()
    graph = synthetic_workload(profile, 200, 0)
    scenario = SCENARIOS["cooling x1.5"]
    blind = run(profile, graph, unaware_plan(graph, profile, 0, 1), scenario, "open", label="a")
    closed = run(profile, graph, photond_plan(graph, profile, 0, 1), scenario, "closed", label="d")
    limit = profile.limits.max_device_temperature_c
    # Degraded cooling under a plan that ignores heat: the plant's hottest cell goes over.
    assert blind.time_above_limit_s > 0.5, blind
    assert blind.peak_c > limit
    assert closed.state == "completed"
    assert closed.time_above_limit_s < blind.time_above_limit_s
    assert closed.replans >= 1
    for m in (blind, closed):
        # Figures from the run's own record: consistent with each other and with the job.
        assert (m.time_above_limit_s > 0) == (m.peak_c > limit)
        assert m.makespan_s >= m.planned_makespan_s - 1e-9 or m.strategy == "d"
        assert m.aging_hours > 0 and math.isfinite(m.peak_gradient_c_per_mm)
        assert m.worst_phase_error_rad > 0  # every 10th task is drift-sensitive


def test_a_short_job_meets_its_disturbance_inside_it() -> None:
    # A job planned for 0.2 s would end long before a disturbance at ONSET_S: it meets it at
    # a quarter of its plan instead, and the simulated chip carries it out then.
    assert onset_s(20.0) == ONSET_S
    begins_s = onset_s(0.2)
    assert 0.0 < begins_s < 0.2
    step = SCENARIOS["ambient +10 C"].at(begins_s)
    failed = SCENARIOS["failed sensor"].at(begins_s)
    assert SCENARIOS["plant -20 %"].at(begins_s) == SCENARIOS["plant -20 %"]  # not timed
    clock = ManualClock()
    sim = TraceSim.open({**step.options, **failed.options}, clock)
    nominal_c = sim.ambient_c()
    clock.advance(begins_s * 0.9)
    before = sim.read_sensors()
    assert sim.ambient_c() == nominal_c
    clock.advance(begins_s * 0.2)
    after = sim.read_sensors()
    assert sim.ambient_c() == nominal_c + 10.0
    s12 = [s.id for s in load_profile().sensors].index("s12")
    # A dead sensor reads its ADC's bottom rail, far below the room.
    assert before.temperature_c[s12] >= nominal_c
    assert after.temperature_c[s12] < nominal_c - 20.0


def test_clairvoyant_model_is_the_disturbed_plant(tmp_path: Path) -> None:
    profile = load_profile()
    base = chip_network(profile).network
    for name, conductance, cooling in (("plant -20 %", 0.8, 1.0), ("cooling x1.5", 1.0, 1.5)):
        net = chip_network(true_profile(profile, SCENARIOS[name], tmp_path)).network
        # What the simulated chip does to its network (sim.driver): every conductance x (1+m),
        # every conductance to ambient / the cooling factor.
        expected = base.to_ambient_w_per_k * conductance / cooling
        assert np.allclose(net.to_ambient_w_per_k, expected, rtol=1e-3)
        assert np.allclose(net.conductance_w_per_k, base.conductance_w_per_k * conductance)
    ambient = true_profile(profile, SCENARIOS["ambient +10 C"], tmp_path)
    assert ambient.ambient_c == profile.ambient_c + 10
    assert true_profile(profile, SCENARIOS["failed sensor"], tmp_path) == profile


def test_paired_statistics_follow_the_data() -> None:
    rows = []
    for seed in range(8):
        for strategy, makespan in (("closed", 10.0 + seed), ("open", 12.0 + 1.5 * seed)):
            rows.append(
                {
                    "workload": "w",
                    "seed": seed,
                    "scenario": "none",
                    "strategy": strategy,
                    "makespan_s": makespan,
                }
            )
    test = study.paired(rows, "makespan_s", "open", "closed")
    assert test["pairs"] == 8 and test["a_larger"] == 8
    assert test["rank_biserial"] == 1.0
    assert test["wilcoxon_p"] < 0.01
    low, high = test["median_ci95"]
    assert low <= test["median_difference"] <= high
    flipped = study.paired(rows, "makespan_s", "closed", "open")
    assert flipped["rank_biserial"] == -1.0


@pytest.mark.skipif(
    not CPSAT_PYTHON.exists(), reason=f"{CPSAT_PYTHON} missing: `make bench-cpsat` builds it"
)
def test_cpsat_optimum_bounds_the_optimizer_and_keeps_the_limits() -> None:
    profile = load_profile()
    device = device_thermal(profile, EXACT_PERIOD_S)
    inst = graph_instance(exact_graph(profile, 8, 1), device).instance
    fast = optimize(inst, Level.FAST)
    arrays = exact_arrays(inst, fast.makespan_ticks)
    # The arrays are the optimiser's model: its own plan passes their superposition.
    assert study.superposed_ok(arrays, fast.start)
    result = study.cpsat(arrays, 60.0, CPSAT_PYTHON)
    assert result["proven"], result
    assert result["makespan"] <= fast.makespan_ticks
    assert study.superposed_ok(arrays, np.array(result["start"]))
    balanced = optimize(inst, Level.BALANCED, seed=0)
    assert result["makespan"] <= balanced.makespan_ticks


def test_the_script_reports_a_study_run_through_the_package(tmp_path: Path) -> None:
    # A tiny study through photon_bench.study, then benchmarks/comparative.py (a thin command
    # line over it) rebuilds the doc's results region and the PNGs from its JSON.
    config = study.StudyConfig(
        workloads=("synthetic",), scenarios=("none",), seeds=1, tasks=12, rounds=1, exact=0
    )
    lines: list[str] = []
    result = study.run_study(config, lines.append, "test")
    assert {r["strategy"] for r in result["runs"]} == {
        "unaware", "reactive", "open", "closed", "clairvoyant"
    }  # fmt: skip
    assert any(line.startswith("synthetic seed 0: 12 tasks") for line in lines)
    # Every second of the run is in a section, and each section names what it timed.
    assert sum(result["sections_s"].values()) <= result["wall_s"]
    assert "synthetic: runs (a)-(d)" in result["sections_s"]
    saved = tmp_path / "result.json"
    study.save_json(result, saved)
    doc = tmp_path / "study.md"
    doc.write_text(f"# Study\n\nkept\n\n{study.BEGIN}\nold\n{study.END}\n\nkept too\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "comparative.py"), "--report-only",
         "--json", str(saved), "--doc", str(doc), "--out", str(tmp_path / "png")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = doc.read_text()
    assert "kept\n" in text and "kept too" in text and "\nold\n" not in text
    assert "### Where the run's wall time went" in text
    assert "| synthetic: runs (a)-(d) |" in text
    assert (tmp_path / "png" / "makespan.png").stat().st_size > 0


def test_study_settings_are_checked_naming_the_setting() -> None:
    settings: dict[str, Any]
    for settings, field in (
        ({"workloads": ("alexnet",)}, "workloads"),
        ({"scenarios": ("flood",)}, "scenarios"),
        ({"seeds": 0}, "seeds"),
        ({"rounds": 0}, "rounds"),
    ):
        with pytest.raises(ValueError, match=field):
            study.StudyConfig(**settings)
