"""The comparative study's harness (benchmarks/comparative.py, photon_bench.comparative) on a
tiny case: runs on the simulated chip measured from the plant's record, the clairvoyant's model
is the disturbed plant's, the paired statistics, and CP-SAT's exact reference.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from photon_bench.comparative import (
    EXACT_PERIOD_S,
    SCENARIOS,
    exact_arrays,
    exact_graph,
    photond_plan,
    run,
    synthetic_workload,
    true_profile,
    unaware_plan,
)
from photon_drivers.plant.chip import chip_network
from photon_drivers.profile import load_profile
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.optimize import Level, optimize

ROOT = Path(__file__).resolve().parents[1]
CPSAT_PYTHON = ROOT / ".venv-cpsat" / "bin" / "python"


def study() -> ModuleType:
    """benchmarks/comparative.py, a script, imported by path."""
    spec = importlib.util.spec_from_file_location(
        "comparative", ROOT / "benchmarks" / "comparative.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["comparative"] = module
    spec.loader.exec_module(module)
    return module


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
    comparative = study()
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
    test = comparative.paired(rows, "makespan_s", "open", "closed")
    assert test["pairs"] == 8 and test["a_larger"] == 8
    assert test["rank_biserial"] == 1.0
    assert test["wilcoxon_p"] < 0.01
    low, high = test["median_ci95"]
    assert low <= test["median_difference"] <= high
    flipped = comparative.paired(rows, "makespan_s", "closed", "open")
    assert flipped["rank_biserial"] == -1.0


@pytest.mark.skipif(
    not CPSAT_PYTHON.exists(), reason=f"{CPSAT_PYTHON} missing: `make bench-cpsat` builds it"
)
def test_cpsat_optimum_bounds_the_optimizer_and_keeps_the_limits() -> None:
    comparative = study()
    profile = load_profile()
    device = device_thermal(profile, EXACT_PERIOD_S)
    inst = graph_instance(exact_graph(profile, 8, 1), device).instance
    fast = optimize(inst, Level.FAST)
    arrays = exact_arrays(inst, fast.makespan_ticks)
    # The arrays are the optimiser's model: its own plan passes their superposition.
    assert comparative.superposed_ok(arrays, fast.start)
    result = comparative.cpsat(arrays, 60.0, CPSAT_PYTHON)
    assert result["proven"], result
    assert result["makespan"] <= fast.makespan_ticks
    assert comparative.superposed_ok(arrays, np.array(result["start"]))
    balanced = optimize(inst, Level.BALANCED, seed=0)
    assert result["makespan"] <= balanced.makespan_ticks
