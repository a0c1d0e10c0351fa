"""The device runtime: what a queued job's start needs is built when it is queued, off the loop
thread, and kept out of the garbage collector's walks (which hold the interpreter, and so the
device loop)."""

from __future__ import annotations

import dataclasses
import gc
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from photon.v1 import job_pb2
from photon_drivers.clock import ManualClock
from photon_drivers.profile import DeviceProfile, load_profile
from photon_drivers.sim.driver import SimulatedChipDriver
from photond import disposal
from photond.jobs.book import JobBook, JobRecord
from photond.jobs.journal import Journal
from photond.loop.runtime import DeviceRuntime
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.plan import Plan, PlannedTask
from photond.wire import plan_to_proto


def serial_job(
    profile: DeviceProfile, n: int, duration_s: float, power_mw: float
) -> tuple[CheckedGraph, Plan, JobRecord]:
    """`n` tasks of `duration_s` heating h00, one after another on the first lane."""
    graph = CheckedGraph(
        tuple(
            CheckedTask(f"t{i}", duration_s, {"h00": power_mw}, (), (), 0.0, 0.0, 0)
            for i in range(n)
        )
    )
    lane = profile.lanes[0].id
    plan = Plan(
        tuple(PlannedTask(f"t{i}", lane, duration_s * i, duration_s * (i + 1)) for i in range(n)),
        duration_s * n,
        0.0,
        "test",
        0.0,
    )
    return graph, plan, JobRecord(job_pb2.Job(id="job", schedule=plan_to_proto(plan)), graph, plan)


@dataclass
class Rig:
    """A device runtime on the simulated chip in manual time, its loop stepped by the test."""

    profile: DeviceProfile
    clock: ManualClock
    book: JobBook
    runtime: DeviceRuntime

    def run_to_end(self, record: JobRecord) -> None:
        """Submit `record` and pass the loop (10 ms of device time a pass) until it ends."""
        self.book.submit(record, 0.0, self.runtime.enqueue)
        for _ in range(2000):
            if record.terminal:
                break
            self.clock.advance(0.01)
            self.runtime._step()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    profile = load_profile()
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    clock = ManualClock()
    runtime = DeviceRuntime("sim0", SimulatedChipDriver(profile, clock, seed=1), book, 0.01)
    try:
        yield Rig(profile, clock, book, runtime)
    finally:
        runtime.stop()
        journal.close()


def test_a_queued_jobs_execution_tables_are_kept_out_of_the_collectors_walks(rig: Rig) -> None:
    # A dict and a list of every task: young, a 100k-task job's cost the next collection of
    # the youngest generation 15 ms with the interpreter held.
    n = 100
    _, _, record = serial_job(rig.profile, n, 0.01, 10.0)
    rig.book.submit(record, 0.0, rig.runtime.enqueue)
    by_id, by_start = rig.runtime._tables["job"]
    assert len(by_id) == len(by_start) == n
    walked = {id(o) for o in gc.get_objects()}  # every generation but the frozen one
    assert id(by_id) not in walked and id(by_start) not in walked


def test_a_finished_job_leaves_nothing_of_itself_in_the_device_loop(rig: Rig) -> None:
    # The closed loop kept the last job's execution, forecast tables and plan until the next
    # job started: after a burst of 20k-task jobs, ~60 MB of an idle daemon.
    graph, plan, record = serial_job(rig.profile, 3, 0.02, 5.0)
    graph_left, plan_left = weakref.ref(graph), weakref.ref(plan)
    del graph, plan
    rig.run_to_end(record)
    assert record.job.state == job_pb2.JOB_STATE_COMPLETED
    gc.collect()
    assert graph_left() is None, gc.get_referrers(graph_left())
    assert plan_left() is None, gc.get_referrers(plan_left())


def test_a_jobs_end_is_recorded_off_the_loop_thread(rig: Rig) -> None:
    # A 100k-task job's result (every task as it ran) took the loop thread 0.6-0.8 s to build
    # and record: the finisher does it, and the loop goes on meanwhile.
    _, _, record = serial_job(rig.profile, 3, 0.02, 5.0)
    runtime = rig.runtime
    gate = threading.Event()
    try:
        runtime._finisher.submit(gate.wait)  # hold the finisher: the loop must not wait for it
        rig.book.submit(record, 0.0, runtime.enqueue)
        for _ in range(200):
            rig.clock.advance(0.01)
            runtime._step()
        assert runtime.active == ("", ())  # the loop let go of the job and went on
        assert not record.terminal, "the job's end was recorded on the loop thread"
        gate.set()
        runtime._finisher.submit(int).result()  # after the job's end
        assert record.job.state == job_pb2.JOB_STATE_COMPLETED
        assert [t.task_id for t in record.job.result.tasks] == ["t0", "t1", "t2"]
    finally:
        gate.set()  # before the rig's stop, which waits for the finisher


class _Watched(str):
    """A task's lane id that records the thread it is freed on (tasks are slotted: no weak
    references); each task has its own."""

    freed_on: list[str]

    def __del__(self) -> None:
        self.freed_on.append(threading.current_thread().name)


def _watched_job(profile: DeviceProfile) -> tuple[CheckedGraph, Plan, JobRecord, list[str]]:
    """`serial_job`'s three tasks, each checked and planned task holding a `_Watched` lane id;
    and the list of the threads they were freed on, as they are."""
    graph, plan, _ = serial_job(profile, 3, 0.02, 5.0)
    freed_on: list[str] = []

    def watched(lane_id: str) -> str:
        lane = _Watched(lane_id)
        lane.freed_on = freed_on
        return lane

    lane = plan.tasks[0].lane_id
    graph = CheckedGraph(
        tuple(dataclasses.replace(t, allowed_lanes=(watched(lane),)) for t in graph.tasks)
    )
    plan = dataclasses.replace(
        plan, tasks=tuple(p._replace(lane_id=watched(p.lane_id)) for p in plan.tasks)
    )
    record = JobRecord(job_pb2.Job(id="job", schedule=plan_to_proto(plan)), graph, plan)
    return graph, plan, record, freed_on


def test_a_finished_jobs_tasks_are_freed_on_the_disposer_thread(rig: Rig) -> None:
    # Freed all at once by whichever thread let go last (here the finisher), a 100k-task job's
    # tasks held the interpreter ~30 ms, the device loop's too: photond.disposal frees them a
    # chunk at a time.
    graph, plan, record, freed_on = _watched_job(rig.profile)
    del graph, plan
    rig.run_to_end(record)
    rig.runtime._finisher.submit(int).result()  # after the job's end
    assert record.job.state == job_pb2.JOB_STATE_COMPLETED
    assert disposal.idle(10.0)
    assert freed_on == ["photond-dispose"] * 6


def test_a_cancelled_queued_jobs_tasks_are_freed_on_the_disposer_thread(rig: Rig) -> None:
    # CancelJob cancels a queued job on the event loop's thread, which froze every RPC (and,
    # holding the interpreter, the device loop) while a large job's tasks were freed.
    graph, plan, record, freed_on = _watched_job(rig.profile)
    del graph, plan
    rig.book.submit(record, 0.0, rig.runtime.enqueue)
    rig.runtime.cancel(record)
    assert record.job.state == job_pb2.JOB_STATE_CANCELLED
    assert disposal.idle(10.0)
    assert freed_on == ["photond-dispose"] * 6
