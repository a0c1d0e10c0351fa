"""A job photond was running when it was SIGKILLed: resumed after the restart, or failed.

The daemon setting `running_jobs_on_restart` chooses: "resume" keeps the tasks whose finish was
journaled and re-plans the rest from the device's state; "fail" (the default) fails the job
with the reason. Either way the job's history replays with the numbers it had.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon
from photon.v1 import job_pb2
from photon_sdk import Client, JobEvent, JobState, TaskGraph

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# Each task takes 20 device seconds, one wall second at this scale: a few device seconds a
# task, and time enough to kill photond after one task while the next ones run.
TIME_SCALE = 20.0
TASK_S = 20.0
TASKS = 5
# Generous: a loaded 2-core machine may be slow to start photond or to reach a condition.
DEADLINE_S = 240.0


def chain() -> TaskGraph:
    """Tasks that run one after the other (each depends on the one before)."""
    graph = TaskGraph()
    for k in range(TASKS):
        graph.add_task(
            f"t{k}",
            duration_s=TASK_S,
            heater_power_mw={f"h0{k % 4}": 10.0},
            depends_on=[f"t{k - 1}"] if k else [],
        )
    return graph


def journaled_events(state_dir: Path, job_id: str) -> list[job_pb2.JobEvent]:
    """The job's events committed to the journal now (read beside the running daemon)."""
    with contextlib.closing(sqlite3.connect(state_dir / "jobs.sqlite3", timeout=30.0)) as db:
        rows = db.execute(
            "SELECT event FROM events WHERE job_id = ? ORDER BY sequence", (job_id,)
        ).fetchall()
    return [job_pb2.JobEvent.FromString(blob) for (blob,) in rows]


T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE_S} s: {what}")


@contextlib.contextmanager
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pd-restart-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def kill_when_journaled(daemon: RunningDaemon, job_id: str, kind: str) -> list[job_pb2.JobEvent]:
    """SIGKILL photond once an event of `kind` of the job is on disk and the job still runs;
    returns the job's events on disk just before the kill."""

    def journaled() -> list[job_pb2.JobEvent] | None:
        events = journaled_events(daemon.state_dir, job_id)
        return events if any(e.WhichOneof("kind") == kind for e in events) else None

    on_disk = wait_until(f"a {kind} event of {job_id} journaled", journaled)
    with Client(daemon.target) as client:
        state = client.get_job(job_id).state
    assert state == JobState.RUNNING, f"the job must still run when photond is killed: {state}"
    daemon.process.kill()
    daemon.process.wait()
    return on_disk


def kinds(events: list[JobEvent]) -> list[tuple[int, str, str]]:
    return [(e.sequence, e.kind, e.task_id) for e in events]


def journaled_kinds(events: list[job_pb2.JobEvent]) -> list[tuple[int, str, str]]:
    """`kinds` of events as the journal holds them (the SDK names kinds as the proto does)."""
    found: list[tuple[int, str, str]] = []
    for e in events:
        kind = e.WhichOneof("kind") or ""
        task_id = ""
        if kind == "task_started":
            task_id = e.task_started.task_id
        elif kind == "task_finished":
            task_id = e.task_finished.task_id
        found.append((e.sequence, kind, task_id))
    return found


def test_a_running_job_resumes_after_sigkill_without_rerunning_finished_tasks() -> None:
    with state_dir() as folder:
        first = start_daemon(folder, "--running-jobs-on-restart", "resume", time_scale=TIME_SCALE)
        try:
            with Client(first.target) as client:
                job = client.submit_job(chain(), name="killed mid-run")
            on_disk = kill_when_journaled(first, job.id, "task_finished")
        finally:
            if first.process.poll() is None:
                cleanup(first)
        finished_on_disk = {
            e.task_finished.task_id for e in on_disk if e.WhichOneof("kind") == "task_finished"
        }
        second = start_daemon(folder, "--running-jobs-on-restart", "resume", time_scale=TIME_SCALE)
        try:
            with Client(second.target) as client:
                ended = client.wait_job(job.id)
                events = list(client.watch_job(job.id))
        finally:
            cleanup(second)

    assert ended.state == JobState.COMPLETED, ended.failure_reason
    # One history, numbered 1..n: the journaled events with their numbers, new ones after.
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert kinds(events[: len(on_disk)]) == journaled_kinds(on_disk)
    resumed = [e for e in events if e.kind == "resumed"]
    assert len(resumed) == 1 and resumed[0].after_restart, kinds(events)
    at = events.index(resumed[0])
    before, after = events[:at], events[at + 1 :]
    assert len(before) >= len(on_disk)
    finished_before = {e.task_id for e in before if e.kind == "task_finished"}
    assert finished_on_disk <= finished_before and finished_before
    started_before = {e.task_id for e in before if e.kind == "task_started"}
    # What the resumed event names: done tasks kept, the rest run, the cut-off ones again.
    assert resumed[0].tasks_done == len(finished_before)
    assert resumed[0].tasks_rerun == TASKS - len(finished_before)
    assert resumed[0].tasks_cut_off == len(started_before - finished_before)
    assert "resumed" in resumed[0].reason
    # The re-plan from the device's state follows at once; then only unfinished tasks start.
    assert after[0].kind == "replanned" and after[0].schedule is not None
    assert {t.task_id for t in after[0].schedule.tasks} == {
        f"t{k}" for k in range(TASKS)
    } - finished_before
    started_after = [e.task_id for e in after if e.kind == "task_started"]
    assert not finished_before & set(started_after), "a finished task started again"
    assert sorted(started_after) == sorted({f"t{k}" for k in range(TASKS)} - finished_before)
    assert after[-1].kind == "completed"
    # The result: every task once, one after the other on one job timeline.
    assert ended.result is not None
    ran = sorted(ended.result.tasks, key=lambda t: t.start_s)
    assert [t.task_id for t in ran] == [f"t{k}" for k in range(TASKS)]
    for earlier, later in itertools.pairwise(ran):
        assert later.start_s >= earlier.end_s - 1e-6, (earlier, later)
    assert ended.result.makespan_s == pytest.approx(ran[-1].end_s)
    assert ended.result.energy_mj > 0


def test_a_running_job_fails_after_sigkill_by_default() -> None:
    with state_dir() as folder:
        first = start_daemon(folder, time_scale=TIME_SCALE)
        try:
            with Client(first.target) as client:
                job = client.submit_job(chain(), name="killed mid-run")
            kill_when_journaled(first, job.id, "task_started")
        finally:
            if first.process.poll() is None:
                cleanup(first)
        second = start_daemon(folder, time_scale=TIME_SCALE)
        try:
            with Client(second.target) as client:
                ended = client.wait_job(job.id)
                events = list(client.watch_job(job.id))
        finally:
            cleanup(second)
    assert ended.state == JobState.FAILED
    assert "photond stopped while the job ran; it was not resumed" in ended.failure_reason
    assert "running_jobs_on_restart" in ended.failure_reason
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert not any(e.kind == "resumed" for e in events)
    assert events[-1].kind == "failed"


def test_a_jobs_large_first_event_replays_after_a_restart() -> None:
    # A job's first event carries its schedule; from 256 KB on it is journaled in a table of
    # its own and written a part at a time (`photond.jobs.journal`, event_bodies).
    graph = TaskGraph(name="wide")
    for k in range(WIDE_TASKS):
        graph.add_task(f"w{k}", duration_s=0.01, heater_power_mw={"h00": 1.0})
    with state_dir() as folder:
        first = start_daemon(folder, time_scale=TIME_SCALE)
        try:
            with Client(first.target) as client:
                job = client.submit_job(graph, name="wide")
                planned = next(iter(client.watch_job(job.id)))
        finally:
            cleanup(first)
        with contextlib.closing(sqlite3.connect(folder / "jobs.sqlite3")) as db:
            (size,) = db.execute("SELECT length(event) FROM event_bodies").fetchone()
        second = start_daemon(folder, time_scale=TIME_SCALE)
        try:
            with Client(second.target) as client:
                replayed = list(client.watch_job(job.id))
        finally:
            cleanup(second)
    assert size >= 256 * 1024, "the first event was not large enough to test this"
    assert planned.kind == "planned" and planned.schedule is not None
    assert len(planned.schedule.tasks) == WIDE_TASKS
    assert replayed[0] == planned
    assert [e.sequence for e in replayed] == list(range(1, len(replayed) + 1))


WIDE_TASKS = 10_000
