"""GetJobStats end to end: counts by outcome and planning time, per device, across a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon_sdk import AsyncClient, Client, InvalidArgument, JobState, JobStats, TaskGraph
from photon_sdk.cli import main as photonctl

pytestmark = pytest.mark.integration


def complete_and_cancel_a_job(client: Client) -> None:
    """Run one short job to completion and cancel a long one once its task has started."""
    short = TaskGraph()
    short.add_task("bias", duration_s=0.1, heater_power_mw={"h00": 10.0})
    done = client.wait_job(client.submit_job(short, name="completes").id)
    assert done.state == JobState.COMPLETED, done.failure_reason
    long = TaskGraph()
    long.add_task("hold", duration_s=60.0, heater_power_mw={"h33": 20.0})
    job = client.submit_job(long, name="cancelled")
    events = client.watch_job(job.id)
    try:
        next(e for e in events if e.kind == "task_started")
    finally:
        events.close()
    assert client.cancel_job(job.id).state == JobState.CANCELLED


def test_counts_completed_and_cancelled_jobs(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        before = client.get_job_stats()
        complete_and_cancel_a_job(client)
        after = client.get_job_stats()
        on_sim0 = client.get_job_stats("sim0")

    async def from_async_client() -> JobStats:
        async with AsyncClient(daemon.target) as client:
            return await client.get_job_stats()

    assert after.submitted - before.submitted == 2
    assert after.completed - before.completed == 1
    assert after.cancelled - before.cancelled == 1
    assert after.failed == before.failed
    assert after.planning_time_total_s > before.planning_time_total_s
    assert on_sim0 == after, "the only device holds every job"
    assert asyncio.run(from_async_client()) == after


def test_unknown_device_is_invalid_argument(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client, pytest.raises(InvalidArgument) as error:
        client.get_job_stats("sim9")
    assert [v.field for v in error.value.field_violations] == ["device_id"]


def test_photonctl_prints_the_counts(
    daemon: RunningDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    with Client(daemon.target) as client:
        stats = client.get_job_stats("sim0")
    assert photonctl(["--target", daemon.target, "stats", "--device", "sim0"]) == 0
    lines = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    assert int(lines["submitted"]) == stats.submitted
    assert int(lines["completed"]) == stats.completed


def test_counts_survive_a_restart(tmp_path: Path) -> None:
    first = start_daemon(tmp_path)
    try:
        with Client(first.target) as client:
            complete_and_cancel_a_job(client)
            before = client.get_job_stats()
    finally:
        cleanup(first)
    assert (before.submitted, before.completed, before.cancelled, before.failed) == (2, 1, 1, 0)
    assert before.planning_time_total_s > 0.0
    second = start_daemon(tmp_path)
    try:
        with Client(second.target) as client:
            assert client.get_job_stats() == before
            assert client.get_job_stats("sim0") == before
    finally:
        cleanup(second)
