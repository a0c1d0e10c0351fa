"""deploy/: the Prometheus alert rules (promtool's own checks and unit tests, then the real
Prometheus server scraping a real photond whose simulated chip overheats) and the Grafana
dashboard (every metric it queries is one a real photond exports)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_sdk import Client, JobState, TaskGraph
from test_metrics_endpoint import scrape

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "photond.json"
# Series Prometheus makes itself, not photond.
PROMETHEUS_OWN = {"up"}

needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="promtool/prometheus not installed: apt-get install prometheus (Debian package "
    "'prometheus'; .ci/run installs it)",
)


def queried_metrics(exprs: list[str]) -> set[str]:
    """The metric names PromQL expressions read (photond's are all photon_*)."""
    names = set()
    for expr in exprs:
        names |= set(re.findall(r"\b(photon_[a-z0-9_]+|up)\b", expr))
    return names


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v.get("type") == "query"]
    return exprs


@needs_prometheus
def test_the_alert_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_prometheus
def test_every_alert_has_promtool_unit_tests_and_they_pass() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    tested = {c["alertname"] for case in cases for c in case.get("alert_rule_test", [])}
    fired = {
        c["alertname"]
        for case in cases
        for c in case.get("alert_rule_test", [])
        if c.get("exp_alerts")
    }
    assert alerts == tested == fired, (alerts - tested, alerts - fired)
    result = subprocess.run(
        ["promtool", "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- against a real photond --------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported() -> Iterator[set[str]]:
    """The sample names of a daemon that planned, ran, held and re-planned a job."""
    daemon = start_daemon()
    try:
        graph = TaskGraph()
        for i in range(4):
            # A chain: tasks are still pending when the hold below clears, so it re-plans.
            after = [f"t{i - 1}"] if i else []
            graph.add_task(
                f"t{i}", duration_s=1.0, heater_power_mw={f"h0{i}": 10.0}, depends_on=after
            )
        with Client(daemon.target) as client:
            job = client.submit_job(graph)
            events = client.watch_job(job.id)
            assert next(e for e in events if e.kind == "task_started")
            client.emergency_stop("sim0", "dashboard test")
            assert next(e for e in events if e.kind == "held")  # the loop took the hold
            client.resume("sim0")  # the job's remaining tasks are re-planned
            assert client.wait_job(job.id).state == JobState.COMPLETED
        names = set(scrape(daemon.metrics_url()))
    finally:
        cleanup(daemon)
    yield names


@pytest.mark.integration
def test_every_metric_the_dashboard_queries_is_exported(exported: set[str]) -> None:
    wanted = queried_metrics(dashboard_exprs())
    assert len(wanted) > 15
    missing = {
        name for name in wanted if not ({name, f"{name}_bucket", f"{name}_total"} & exported)
    }
    assert not missing, sorted(missing)


@pytest.mark.integration
def test_every_metric_an_alert_reads_is_exported(exported: set[str]) -> None:
    wanted = queried_metrics(alert_exprs()) - PROMETHEUS_OWN
    missing = {n for n in wanted if n not in exported}
    assert not missing, sorted(missing)


# -- the real Prometheus server ---------------------------------------------------------------

# The chip's conductances 0.55 x what the daemon's model says (heat builds ~1.8 x faster than
# planned) and the loop open (the plan runs as made, nothing corrects it): a job planned to
# peak below 85 °C overheats the chip, past the limit and into the interlock.
MISMODELLED_CHIP = """
[[devices]]
id = "sim0"
driver = "sim"
options = { seed = "1", plant_mismatch = "-0.45" }

[closed_loop]
mode = "open"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as reply:
        return json.loads(reply.read())


@pytest.fixture
def hot_daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A daemon running a heat-bound job on the mismodelled chip, in real time (so that the
    heat lasts tens of seconds of Prometheus' evaluations)."""
    config = tmp_path / "photond.toml"
    config.write_text(MISMODELLED_CHIP)
    daemon = start_daemon(None, "--config", str(config), time_scale=1.0)
    try:
        with Client(daemon.target, timeout_s=300.0) as client:
            zones = [z.id for z in client.get_device("sim0").zones]
            graph = TaskGraph(name="heat-bound")
            for i in range(64):  # 24 mW on each heater of a zone: all zones at once pass 100 °C
                graph.add_task(
                    f"t{i}",
                    duration_s=(1.0, 1.5, 2.0)[i % 3],
                    zone_power_mw={zones[i % len(zones)]: 24.0 * 8},
                )
            client.submit_job(graph)
        yield daemon
    finally:
        cleanup(daemon)


@needs_prometheus
@pytest.mark.integration
def test_prometheus_scraping_photond_fires_the_thermal_alerts(hot_daemon: RunningDaemon) -> None:
    target = hot_daemon.metrics_url().removeprefix("http://").removesuffix("/metrics")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="prom-") as work:
        config = Path(work) / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {"job_name": "photond", "static_configs": [{"targets": [target]}]}
                    ],
                }
            )
        )
        with open(Path(work) / "prometheus.log", "wb") as log_file:
            server = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={work}/data",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
        base = f"http://127.0.0.1:{port}"
        states: dict[str, str] = {}
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                time.sleep(1)
                try:
                    alerts = api(base, "/api/v1/alerts")["data"]["alerts"]
                except OSError:
                    continue  # not listening yet
                states = {a["labels"]["alertname"]: a["state"] for a in alerts}
                if (
                    states.get("PhotonInterlockTripped") == "firing"
                    and states.get("PhotonThermalLimitExceeded") == "firing"
                ):
                    break
            targets = api(base, "/api/v1/targets")["data"]["activeTargets"]
        finally:
            server.terminate()
            server.wait(30)
            log = (Path(work) / "prometheus.log").read_text(errors="replace")
    assert [t["health"] for t in targets] == ["up"], (targets, log[-2000:])
    assert states.get("PhotonInterlockTripped") == "firing", states
    assert states.get("PhotonThermalLimitExceeded") == "firing", states
    assert states.get("PhotonThermalLimitApproached") in ("pending", "firing"), states
