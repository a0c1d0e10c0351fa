"""Model workloads against a real photond: they pass its checks, plan, and run from photonctl."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from daemon_process import RunningDaemon
from photon_sdk import Client, JobState, OptimizationLevel
from photon_sdk.workloads import bert_base, gpt2_small, resnet50, to_task_graph

pytestmark = pytest.mark.integration


def photonctl(daemon: RunningDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photon_sdk.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PHOTON_TARGET": daemon.target},
    )


def test_photonctl_submits_the_first_layers_of_resnet50_and_the_job_completes(
    daemon: RunningDaemon,
) -> None:
    run = photonctl(daemon, "submit", "--workload", "resnet50", "--layers", "3", "--wait")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "completed" in run.stdout
    assert "mapping resnet50 (792 tiles) onto sim0" in run.stderr
    with Client(daemon.target) as client:
        job = client.list_jobs()[0]
        assert job.state is JobState.COMPLETED and job.name == "resnet50"
        device = client.list_devices()[0]
    # The job is the mapping of exactly those layers (tasks and accumulation milestones).
    assert job.task_count == len(to_task_graph(resnet50().first(3), device))


def test_photonctl_workload_usage_errors_exit_2(daemon: RunningDaemon) -> None:
    run = photonctl(daemon, "submit", "--workload", "alexnet", "--plan-only")
    assert run.returncode == 2 and "unknown model 'alexnet'" in run.stderr
    run = photonctl(daemon, "submit", "--workload", "resnet50", "--layers", "0", "--plan-only")
    assert run.returncode == 2 and "layers" in run.stderr
    run = photonctl(daemon, "submit", "--layers", "2", "graph.json")
    assert run.returncode == 2 and "--layers goes with --workload" in run.stderr
    run = photonctl(daemon, "submit", "graph.json", "--workload", "resnet50")
    assert run.returncode == 2 and "either a task graph FILE or --workload" in run.stderr
    run = photonctl(daemon, "submit", "--workload", "resnet50", "--device", "nope", "--plan-only")
    assert run.returncode == 2 and "no device 'nope'" in run.stderr


def test_photonctl_without_numpy_names_the_workloads_extra(daemon: RunningDaemon) -> None:
    code = (
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'numpy':\n"
        "            raise ImportError('hidden')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from photon_sdk.cli import main\n"
        "sys.exit(main(['submit', '--workload', 'resnet50', '--plan-only']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PHOTON_TARGET": daemon.target},
    )
    assert run.returncode == 2, run.stderr
    assert "pip install 'photond[workloads]'" in run.stderr


def test_whole_resnet50_passes_validation_and_plans_at_fast(daemon: RunningDaemon) -> None:
    with Client(daemon.target, timeout_s=600) as client:
        device = client.list_devices()[0]
        graph = to_task_graph(resnet50(), device)
        assert 500 < len(graph) < 2000
        plan = client.plan_job(graph, level=OptimizationLevel.FAST)
    busy_s = sum(t.duration_s for t in graph)
    # Every task drives the whole mesh, so tasks run one at a time: the bound is their sum.
    assert plan.lower_bound_s == pytest.approx(busy_s, rel=1e-6)
    assert plan.makespan_s >= busy_s


@pytest.mark.parametrize("model", [bert_base, gpt2_small])
def test_transformer_layers_with_attention_plan(daemon: RunningDaemon, model: object) -> None:
    workload = model(seq_len=64).first(9)  # type: ignore[operator]  # a model builder
    assert any(g.operand == "activation" for g in workload.gemms)
    with Client(daemon.target, timeout_s=300) as client:
        device = client.list_devices()[0]
        plan = client.plan_job(to_task_graph(workload, device), level=OptimizationLevel.FAST)
    assert plan.makespan_s >= plan.lower_bound_s > 0
