"""The device runtime: what a queued job's start needs is built when it is queued, off the loop
thread, and kept out of the garbage collector's walks (which hold the interpreter, and so the
device loop)."""

from __future__ import annotations

import gc
from pathlib import Path

from photon.v1 import job_pb2
from photon_drivers.clock import ManualClock
from photon_drivers.profile import load_profile
from photon_drivers.sim.driver import SimulatedChipDriver
from photond.jobs.book import JobBook, JobRecord
from photond.jobs.journal import Journal
from photond.loop.runtime import DeviceRuntime
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.plan import Plan, PlannedTask
from photond.wire import plan_to_proto


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
    graph = CheckedGraph(
        tuple(CheckedTask(f"t{i}", 0.01, {"h00": 10.0}, (), (), 0.0, 0.0, 0) for i in range(n))
    )
    lane = profile.lanes[0].id
    plan = Plan(
        tuple(PlannedTask(f"t{i}", lane, 0.01 * i, 0.01 * (i + 1)) for i in range(n)),
        0.01 * n,
        0.0,
        "test",
        0.0,
    )
    record = JobRecord(job_pb2.Job(id="job", schedule=plan_to_proto(plan)), graph, plan)
    try:
        book.submit(record, 0.0, runtime.enqueue)
        by_id, by_start = runtime._tables["job"]
        assert len(by_id) == len(by_start) == n
        walked = {id(o) for o in gc.get_objects()}  # every generation but the frozen one
        assert id(by_id) not in walked and id(by_start) not in walked
    finally:
        runtime.control.close()
        journal.close()
