"""``photonctl bench``: the comparative study's short version, run by photonctl on this
machine without a daemon (photon_bench.study on the simulated chip).

Three tiny studies in this process (they share its plant and model caches) differ in every
flag, so that each flag's test compares two runs that differ in it: the graph size the study
planned, the seeds and scenarios it ran, the optimiser's own count of search rounds.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from photon_bench.study import PRESETS
from photon_sdk._cli_bench import SHORT
from photon_sdk.cli import main

# A study plays every job on the simulated chip: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(1200)

_SDK = Path(__file__).resolve().parent.parent / "sdk"


def _strict(text: str) -> Any:
    """JSON as the standard has it: NaN or Infinity tokens are an error."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def _bench(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["bench", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three studies through photonctl: A to a file, B to stdout, C small and seeded twice."""
    folder = tmp_path_factory.mktemp("bench")
    out: dict[str, Any] = {"photond log level before": logging.getLogger("photond").level}
    for name, args in (
        ("A", ["--workloads", "synthetic,resnet50", "--scenarios", "none", "--tasks", "80",
               "--layers", "1", "--rounds", "1", "--json", str(folder / "a.json")]),
        ("B", ["--workloads", "synthetic,resnet50", "--scenarios", "none,plant +20 %",
               "--tasks", "80", "--layers", "2", "--rounds", "3", "--json", "-"]),
        ("C", ["--workloads", "synthetic", "--scenarios", "none", "--tasks", "12",
               "--seeds", "2", "--rounds", "3"]),
    ):  # fmt: skip
        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = main(["bench", *args])
        out[name] = {"code": code, "out": stdout.getvalue(), "err": stderr.getvalue()}
    out["A"]["result"] = _strict((folder / "a.json").read_text())
    out["B"]["result"] = _strict(out["B"]["out"])
    out["photond log level after"] = logging.getLogger("photond").level
    return out


def test_the_study_quiets_photonds_log_for_itself_only(studies: dict[str, Any]) -> None:
    # The loop's trips and re-plans would flood the study's progress; but a caller running the
    # command in its own process (a test, a notebook) keeps its logging as it was.
    assert studies["photond log level after"] == studies["photond log level before"]


def _plans(result: dict[str, Any], workload: str, kind: str = "photond") -> list[dict[str, Any]]:
    return [p for p in result["plans"] if p["workload"] == workload and p["plan"] == kind]


def test_a_study_runs_every_strategy_and_the_clairvoyant_on_every_unit(
    studies: dict[str, Any],
) -> None:
    for name in "ABC":
        assert studies[name]["code"] == 0, studies[name]["err"]
    result = studies["B"]["result"]
    units = {(r["workload"], r["seed"], r["scenario"]) for r in result["runs"]}
    assert len(units) == 4  # 2 workloads x 1 seed x 2 scenarios
    for unit in units:
        ran = {r["strategy"] for r in result["runs"] if (r["workload"], r["seed"],
                                                         r["scenario"]) == unit}  # fmt: skip
        assert ran == {"unaware", "reactive", "open", "closed", "clairvoyant"}, unit
    # Every run from the plant's record: completed, a makespan, a peak above ambient.
    for r in result["runs"]:
        assert r["state"] == "completed" and r["makespan_s"] > 0 and r["peak_c"] > 25
    assert result["sections_s"] and result["wall_s"] > 0


def test_tables_go_to_stdout_progress_to_stderr(studies: dict[str, Any]) -> None:
    text = studies["C"]["out"]
    assert "| scenario | strategy |" in text and "(d) photond closed loop" in text
    assert "closed-loop regret against the clairvoyant" in text
    assert "wall time per section" in text
    assert "synthetic seed 1: 12 tasks" in studies["C"]["err"]
    assert "synthetic seed" not in text


def test_workloads_flag_chooses_the_workloads(studies: dict[str, Any]) -> None:
    assert {r["workload"] for r in studies["A"]["result"]["runs"]} == {"synthetic", "resnet50"}
    assert "resnet50" not in studies["C"]["out"]
    assert "synthetic:" in studies["C"]["out"]


def test_scenarios_flag_chooses_the_disturbances(studies: dict[str, Any]) -> None:
    assert {r["scenario"] for r in studies["A"]["result"]["runs"]} == {"none"}
    assert {r["scenario"] for r in studies["B"]["result"]["runs"]} == {"none", "plant +20 %"}


def test_seeds_flag_runs_each_seed(studies: dict[str, Any]) -> None:
    assert {r["seed"] for r in studies["A"]["result"]["runs"]} == {0}
    for seed in (0, 1):
        assert f"synthetic seed {seed}: 12 tasks" in studies["C"]["err"]
    assert "synthetic seed 1" not in studies["A"]["err"]


def test_tasks_and_layers_flags_size_the_jobs(studies: dict[str, Any]) -> None:
    a, b = studies["A"]["result"], studies["B"]["result"]
    assert {p["tasks"] for p in _plans(a, "synthetic")} == {80}
    assert "synthetic seed 0: 12 tasks" in studies["C"]["err"]
    # resnet50's first GEMM is 2 tasks on the default mesh, its first two 4.
    assert [p["tasks"] for p in _plans(a, "resnet50")] == [2]
    assert [p["tasks"] for p in _plans(b, "resnet50")] == [4]


def test_rounds_flag_is_every_plans_search_budget(studies: dict[str, Any]) -> None:
    a, b = studies["A"]["result"], studies["B"]["result"]
    # The same 80-task job and seed: the optimiser's own count of rounds, and two more rounds
    # are a longer search from the same start, never a worse plan (whether they find a better
    # one depends on the instance: since the one drift rule both end at 4.99 s).
    one, three = _plans(a, "synthetic")[0], _plans(b, "synthetic")[0]
    assert (one["rounds"], three["rounds"]) == (1, 3)
    assert three["evaluations"] > one["evaluations"]
    assert three["makespan_s"] <= one["makespan_s"]
    clairvoyant = _plans(b, "synthetic", "clairvoyant plant +20 %")
    assert clairvoyant and clairvoyant[0]["rounds"] <= 3 and clairvoyant[0]["evaluations"] > 1


def test_json_flag_writes_the_result_or_prints_it(studies: dict[str, Any]) -> None:
    a, b = studies["A"], studies["B"]
    assert "wrote " in a["out"] and "| scenario |" in a["out"]  # tables, and the file
    assert a["result"]["command"].startswith("photonctl bench --workloads")
    assert b["out"].lstrip().startswith("{")  # the document alone: no tables around it
    assert "| scenario |" not in b["out"]
    # No drift-sensitive task is measured in a 2-task model job: null, not NaN.
    phases = [r["worst_phase_error_rad"] for r in b["result"]["runs"]
              if r["workload"] == "resnet50"]  # fmt: skip
    assert phases and all(p is None for p in phases)


def test_defaults_are_the_studys_short_preset() -> None:
    assert {k: PRESETS["short"][k] for k in SHORT} == SHORT


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--seeds", "0"], "--seeds"),
        (["--tasks", "-3"], "--tasks"),
        (["--workloads", "synthetic,alexnet"], "--workloads"),
        (["--scenarios", "earthquake"], "--scenarios"),
        (["--json", "/nonexistent/folder/bench.json"], "--json"),
    ],
)
def test_bad_settings_exit_2_naming_the_flag(
    capsys: pytest.CaptureFixture[str], args: list[str], field: str
) -> None:
    code, out, err = _bench(capsys, *args)
    assert code == 2
    assert field in err and out == ""


def test_missing_bench_extra_exits_2_naming_it() -> None:
    # numpy and the daemon hidden as if the 'bench' extra were not installed.
    code = """
import importlib.abc, sys
HIDDEN = {"numpy", "scipy", "numba", "photond", "photon_drivers"}

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ImportError(f"{name} hidden", name=name)
        return None

sys.meta_path.insert(0, Hide())
from photon_sdk.cli import main
sys.exit(main(["bench", "--workloads", "synthetic"]))
"""
    path = os.pathsep.join(p for p in (str(_SDK), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'photond[bench]'" in done.stderr
    assert "Traceback" not in done.stderr
