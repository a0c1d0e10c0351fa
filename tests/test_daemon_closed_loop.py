"""The closed loop through a real photond process: a config file makes the simulated room warm
by 10 °C at device time 4 s (around the job's start: the daemon's start-up and planning take
device seconds at time scale 5); the WatchJob stream must show the re-plans and the job must
complete without any sensor reading above max_device_temperature."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_sdk import Client, JobState, TaskGraph

pytestmark = pytest.mark.integration

CONFIG = """
[[devices]]
id = "sim0"
driver = "sim"
options = { seed = "4", ambient_step_c = "10", ambient_step_at_s = "4" }

[closed_loop]
margin_c = 2.0
"""


@pytest.fixture(scope="module")
def warm_room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    config = tmp_path_factory.mktemp("cfg") / "photond.toml"
    config.write_text(CONFIG)
    running = start_daemon(None, "--config", str(config), time_scale=5.0)
    yield running
    cleanup(running)


def binding_graph(zones: list[str], count: int) -> TaskGraph:
    """Zone tasks at 24 mW per heater (above π): all eight zones at once would pass 100 °C."""
    graph = TaskGraph(name="binding")
    for i in range(count):
        graph.add_task(
            f"t{i}",
            duration_s=(0.2, 0.4, 0.6)[i % 3],
            zone_power_mw={zones[i % len(zones)]: 24.0 * 8},
        )
    return graph


def test_room_step_is_replanned_and_the_job_stays_below_the_limit(
    warm_room: RunningDaemon, tmp_path: Path
) -> None:
    # Planning 320 heat-bound tasks takes about a second alone; a loaded CI machine may take
    # many times that, and this test is about the loop, not planning speed.
    with Client(warm_room.target, timeout_s=300.0) as client:
        device = client.get_device("sim0")
        graph = binding_graph([z.id for z in device.zones], 320)
        job = client.submit_job(graph)
        events = list(client.watch_job(job.id))
        done = client.get_job(job.id)
    assert done.state == JobState.COMPLETED, done.failure_reason
    replans = [e for e in events if e.kind == "replanned"]
    assert replans, [e.kind for e in events][:20]
    assert all(e.reason and e.schedule is not None for e in replans)
    assert any("exceeds" in e.reason or "drifts" in e.reason for e in replans)
    assert done.result is not None
    assert done.result.peak_temperature_c < device.limits.max_device_temperature_c
