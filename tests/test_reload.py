"""SIGHUP under load: a telemetry stream and a running job survive, the new values are in force.

The reload re-reads the config file; live keys (log level, retention, tokens) take effect at once,
restart-only keys are logged and keep their running value, and an invalid file is refused
with the reason while the running configuration stays.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_sdk import (
    Cancelled,
    Client,
    JobState,
    TaskGraph,
    TelemetryFrame,
    TelemetryStream,
    Unauthenticated,
)
from security_daemon import start_secure, write_config

pytestmark = pytest.mark.integration

# Two chips: sim0 runs the long job the reload must not disturb, sim1 the short ones (a
# device runs one job at a time). Top-level keys follow, so the tables go last.
DEVICES = '[[devices]]\nid = "sim0"\ndriver = "sim"\n[[devices]]\nid = "sim1"\ndriver = "sim"\n'


def write(config: Path, keys: str) -> None:
    config.write_text(keys + DEVICES)


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s} s"
        time.sleep(0.05)


def short_job(client: Client) -> str:
    graph = TaskGraph()
    graph.add_task("short", duration_s=0.2, heater_power_mw={"h01": 5.0})
    job = client.submit_job(graph, device_id="sim1")  # sim0 runs the long job meanwhile
    assert client.wait_job(job.id).state == JobState.COMPLETED
    return job.id


def read_all(stream: TelemetryStream, frames: list[TelemetryFrame]) -> None:
    """Collect frames until the stream ends; closing it (the test's end) is not an error."""
    with contextlib.suppress(Cancelled):
        frames.extend(stream)


def hup(daemon: RunningDaemon, marker: str) -> None:
    """SIGHUP, then wait for the reload's outcome line (`marker`) to appear once more."""
    before = daemon.log().count(marker)
    daemon.process.send_signal(signal.SIGHUP)
    wait_until(lambda: daemon.log().count(marker) > before, f"a {marker!r} line")


def test_sighup_reloads_under_a_stream_and_a_running_job(tmp_path: Path) -> None:
    config = tmp_path / "photond.toml"
    write(config, "log_level = 'INFO'\nretain_finished_jobs = 100\n")
    daemon = start_daemon(None, "--config", str(config))
    frames: list[TelemetryFrame] = []
    try:
        with Client(daemon.target) as client:
            first = short_job(client)
            assert f'msg="job ended" job={first}' in daemon.log()
            graph = TaskGraph()
            graph.add_task("hold", duration_s=3600.0, heater_power_mw={"h00": 10.0})
            running = client.submit_job(graph, device_id="sim0")
            events = client.watch_job(running.id)
            next(e for e in events if e.kind == "task_started")
            stream = client.subscribe("sim0", sample_interval_s=0.05)
            reader = threading.Thread(target=read_all, args=(stream, frames), daemon=True)
            reader.start()
            wait_until(lambda: len(frames) > 3, "telemetry frames")

            write(
                config, "log_level = 'WARNING'\nretain_finished_jobs = 0\ncontrol_period_s = 0.02\n"
            )
            hup(daemon, "configuration reloaded")
            log = daemon.log()
            outcome = re.findall(r"configuration reloaded\" applied=(\S+) need_restart=(\S+)", log)
            assert outcome, log
            applied, need_restart = outcome[-1]
            assert set(applied.split(",")) == {"log_level", "retain_finished_jobs"}
            assert need_restart == "control_period_s"
            assert (
                'msg="configuration key changed but needs a restart: the running value stays '
                'in force" key=control_period_s running=0.01 new=0.02'
            ) in log

            # The stream goes on past the reload, and the job runs on.
            seen = len(frames)
            wait_until(lambda: len(frames) > seen + 3, "frames after the reload")
            assert frames[-1].device_time_s > frames[seen - 1].device_time_s
            assert client.get_job(running.id).state == JobState.RUNNING
            # The new values are in force: WARNING hides a job's INFO lines, and the next
            # retention pass (every 10 s) keeps no finished job.
            second = short_job(client)
            assert f"job={second}" not in daemon.log()
            wait_until(lambda: first not in {j.id for j in client.list_jobs()}, "retention", 40.0)

            # An invalid file is refused with the reason; the running configuration stays.
            write(config, "log_level = 'INFO'\nplanning_workers = 'two'\n")
            hup(daemon, "configuration reload refused")
            assert "planning_workers must be an integer in [1, 64]" in daemon.log()
            third = short_job(client)
            assert f"job={third}" not in daemon.log()  # still WARNING
            assert client.get_job(running.id).state == JobState.RUNNING
            assert reader.is_alive()
            stream.close()
            client.cancel_job(running.id)
    finally:
        cleanup(daemon)


def test_sighup_swaps_the_tokens_and_refuses_what_needs_a_restart() -> None:
    secure = start_secure()
    try:
        old = secure.tokens["viewer"]
        with Client(secure.tcp, token=old) as client:
            assert [d.id for d in client.list_devices()] == ["sim0"]
        new = write_config(secure.folder)["viewer"]  # every role gets a new token
        hup(secure.daemon, "configuration reloaded")
        assert "applied=security" in secure.daemon.log()
        with Client(secure.tcp, token=new) as client:
            assert [d.id for d in client.list_devices()] == ["sim0"]
        with Client(secure.tcp, token=old) as client, pytest.raises(Unauthenticated):
            client.list_devices()

        # The socket's group needs a restart: the whole reload is refused, tokens included.
        newer = write_config(secure.folder, 'unix_socket_group = "root"')["viewer"]
        hup(secure.daemon, "configuration reload refused")
        assert "security.unix_socket_group: changing it needs a restart" in secure.daemon.log()
        with Client(secure.tcp, token=new) as client:
            assert [d.id for d in client.list_devices()] == ["sim0"]
        with Client(secure.tcp, token=newer) as client, pytest.raises(Unauthenticated):
            client.list_devices()
    finally:
        cleanup(secure.daemon)
