"""The device runtime: what a queued job's start needs is built when it is queued, off the loop
thread, and kept out of the garbage collector's walks (which hold the interpreter, and so the
device loop)."""

from __future__ import annotations

import gc
import threading
import weakref
from pathlib import Path

from photon.v1 import job_pb2
from photon_drivers.clock import ManualClock
from photon_drivers.profile import DeviceProfile, load_profile
from photon_drivers.sim.driver import SimulatedChipDriver
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


def test_a_queued_jobs_execution_tables_are_kept_out_of_the_collectors_walks(
    tmp_path: Path,
) -> None:
    # A dict and a list of every task: young, a 100k-task job's cost the next collection of
    # the youngest generation 15 ms with the interpreter held.
    profile = load_profile()
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    runtime = DeviceRuntime("sim0", SimulatedChipDriver(profile, ManualClock(), seed=1), book, 0.01)
    n = 100
    _, _, record = serial_job(profile, n, 0.01, 10.0)
    try:
        book.submit(record, 0.0, runtime.enqueue)
        by_id, by_start = runtime._tables["job"]
        assert len(by_id) == len(by_start) == n
        walked = {id(o) for o in gc.get_objects()}  # every generation but the frozen one
        assert id(by_id) not in walked and id(by_start) not in walked
    finally:
        runtime.control.close()
        journal.close()


def test_a_finished_job_leaves_nothing_of_itself_in_the_device_loop(tmp_path: Path) -> None:
    # The closed loop kept the last job's execution, forecast tables and plan until the next
    # job started: after a burst of 20k-task jobs, ~60 MB of an idle daemon.
    profile = load_profile()
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    clock = ManualClock()
    runtime = DeviceRuntime("sim0", SimulatedChipDriver(profile, clock, seed=1), book, 0.01)
    graph, plan, record = serial_job(profile, 3, 0.02, 5.0)
    graph_left, plan_left = weakref.ref(graph), weakref.ref(plan)
    del graph, plan
    try:
        book.submit(record, 0.0, runtime.enqueue)
        for _ in range(2000):
            if record.terminal:
                break
            clock.advance(0.01)
            runtime._step()
        assert record.job.state == job_pb2.JOB_STATE_COMPLETED
        gc.collect()
        assert graph_left() is None, gc.get_referrers(graph_left())
        assert plan_left() is None, gc.get_referrers(plan_left())
    finally:
        runtime.control.close()
        journal.close()


def test_a_jobs_end_is_recorded_off_the_loop_thread(tmp_path: Path) -> None:
    # A 100k-task job's result (every task as it ran) took the loop thread 0.6-0.8 s to build
    # and record: the finisher does it, and the loop goes on meanwhile.
    profile = load_profile()
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    clock = ManualClock()
    runtime = DeviceRuntime("sim0", SimulatedChipDriver(profile, clock, seed=1), book, 0.01)
    _, _, record = serial_job(profile, 3, 0.02, 5.0)
    gate = threading.Event()
    try:
        runtime._finisher.submit(gate.wait)  # hold the finisher: the loop must not wait for it
        book.submit(record, 0.0, runtime.enqueue)
        for _ in range(200):
            clock.advance(0.01)
            runtime._step()
        assert runtime.active == ("", ())  # the loop let go of the job and went on
        assert not record.terminal, "the job's end was recorded on the loop thread"
        gate.set()
        runtime._finisher.submit(int).result()  # after the job's end
        assert record.job.state == job_pb2.JOB_STATE_COMPLETED
        assert [t.task_id for t in record.job.result.tasks] == ["t0", "t1", "t2"]
    finally:
        gate.set()
        runtime.stop()
        journal.close()
