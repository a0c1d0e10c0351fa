"""Which signals stop photond the clean way (parked, journaled, exit 0) and which do not."""

from __future__ import annotations

import signal

import pytest

from daemon_process import cleanup, start_daemon
from photon_sdk import Client, JobState, TaskGraph
from photond.service.lifecycle import stop_signals


def test_every_terminating_signal_but_reload_and_state_dump_stops_cleanly() -> None:
    stops = set(stop_signals())
    assert {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR2, signal.SIGALRM} <= stops
    assert set(range(signal.SIGRTMIN, signal.SIGRTMAX + 1)) <= stops
    assert not stops & {signal.SIGHUP, signal.SIGUSR1, signal.SIGKILL, signal.SIGSTOP}


@pytest.mark.integration
def test_sigalrm_parks_the_device_and_fails_the_running_job() -> None:
    # SIGALRM's default action would end the process with the heater on.
    running = start_daemon()
    try:
        graph = TaskGraph()
        graph.add_task("hold", duration_s=600.0, heater_power_mw={"h00": 10.0})
        with Client(running.target) as client:
            job = client.submit_job(graph)
            next(e for e in client.watch_job(job.id) if e.kind == "task_started")
        running.process.send_signal(signal.SIGALRM)
        assert running.process.wait(60) == 0
        assert "received SIGALRM" in running.log()
        again = start_daemon(running.state_dir)
        try:
            with Client(again.target) as client:
                ended = client.get_job(job.id)
            assert ended.state == JobState.FAILED
            assert "parked in its safe state" in ended.failure_reason
        finally:
            cleanup(again)
    finally:
        cleanup(running)
