"""A job running when photond stopped, resumed after the restart (running_jobs_on_restart =
"resume"): what its journaled events say it had done, and a real `DeviceRuntime` on the
simulated chip (manual time) that re-plans the rest from the device's state and runs it.

The first life is played through the book alone (the events a device loop records), then the
journal is closed as a killed daemon leaves it; the second life reads it back as
`rpc.server.Daemon._restore_jobs` does. tests/test_daemon_restart.py does the same with real
photond processes and SIGKILL.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from photon.v1 import job_pb2
from photon_drivers.clock import ManualClock
from photon_drivers.profile import DeviceProfile, load_profile
from photon_drivers.sim.driver import SimulatedChipDriver
from photond.jobs.book import JobBook, JobRecord
from photond.jobs.journal import Journal
from photond.loop.control_config import ControlConfig
from photond.loop.runtime import DeviceRuntime
from photond.planning.device_plan import plan_graph
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.optimize import Level
from photond.planning.plan import Plan, PlannedTask
from photond.wire import plan_to_proto

TASK_S = 2.0


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    return load_profile()


def chain(
    count: int, power_mw: float = 10.0, heaters: int = 1, duration_s: float = TASK_S
) -> CheckedGraph:
    """Tasks one after the other, each on `heaters` heaters at `power_mw`."""
    return CheckedGraph(
        tuple(
            CheckedTask(
                f"t{k}",
                duration_s,
                {f"h{h // 8}{h % 8}": power_mw for h in range(heaters)},
                (),
                (f"t{k - 1}",) if k else (),
                0.0,
                0.0,
                0,
            )
            for k in range(count)
        )
    )


def first_life(
    path: Path, graph: CheckedGraph, plan: Plan, play: Callable[[JobBook, JobRecord], None]
) -> None:
    """Submit the job, `play` what its device loop recorded, and stop as a SIGKILL would (what
    was recorded is on disk: the journal is closed, the job is left running)."""
    journal = Journal(path)
    book = JobBook(journal)
    wire_graph = job_pb2.TaskGraph(
        tasks=[job_pb2.Task(id=t.id, duration_s=t.duration_s) for t in graph.tasks]
    )
    job = job_pb2.Job(id="job", device_id="sim0", graph=wire_graph, schedule=plan_to_proto(plan))
    record = JobRecord(job, graph, plan)
    book.submit(record, 0.0)
    play(book, record)
    journal.close()


def lane_of(plan: Plan, task_id: str) -> str:
    return next(p.lane_id for p in plan.tasks if p.task_id == task_id)


def ran_first_and_started_second(book: JobBook, record: JobRecord) -> None:
    """On a device clock at 100 s: t0 ran from job time 0 to 2, t1 started at 2 (cut off)."""
    assert record.plan is not None
    book.start(record, 100.0)
    book.task_started(record, 100.0, "t0", lane_of(record.plan, "t0"))
    book.task_finished(record, 102.0, "t0", lane_of(record.plan, "t0"))
    book.task_started(record, 102.0, "t1", lane_of(record.plan, "t1"))


def second_life(path: Path, graph: CheckedGraph, profile: DeviceProfile, mode: str) -> JobRecord:
    """Read the journal back, queue the running job to resume, run the device loop until the
    job ends (on a fresh device clock, as after a restart)."""
    journal = Journal(path)
    book = JobBook(journal)
    (journaled,) = journal.load_all()
    assert journaled.job.state == job_pb2.JOB_STATE_RUNNING
    record = book.restore(journaled)
    record.graph = graph
    record.resumption = book.resumption(record)
    record.plan = record.resumption.plan
    sim = SimulatedChipDriver(profile, ManualClock(), seed=1)
    runtime = DeviceRuntime("sim0", sim, book, 0.01, control=ControlConfig(mode=mode))
    runtime.enqueue(record)
    runtime.start()
    try:
        deadline = time.monotonic() + 120.0
        while not record.terminal and time.monotonic() < deadline:
            time.sleep(0.01)
        assert record.terminal, [e.WhichOneof("kind") for e in record.events]
    finally:
        runtime.stop()
        journal.close()
    return record


def kinds(events: list[job_pb2.JobEvent]) -> list[str]:
    return [e.WhichOneof("kind") or "" for e in events]


def test_the_resumption_reads_what_was_done_from_the_events(
    tmp_path: Path, profile: DeviceProfile
) -> None:
    graph = chain(4)
    plan = plan_graph(graph, profile, Level.FAST)
    lane = lane_of(plan, "t2")
    moved = Plan(
        tasks=(PlannedTask("t2", lane, 7.0, 9.0), PlannedTask("t3", lane, 9.0, 11.0)),
        makespan_s=11.0,
        lower_bound_s=0.0,
        planner="test",
        planning_time_s=0.0,
    )

    def play(book: JobBook, record: JobRecord) -> None:
        ran_first_and_started_second(book, record)
        book.held(record, 103.0, "test hold")  # t1 cut off, back to pending
        book.resumed(record, 104.0, "test resume")
        book.replanned(record, 104.0, "test re-plan", moved)
        book.task_started(record, 104.5, "t1", lane_of(plan, "t1"))
        book.task_finished(record, 106.5, "t1", lane_of(plan, "t1"))
        book.task_started(record, 107.0, "t2", lane)

    first_life(tmp_path / "jobs.sqlite3", graph, plan, play)
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    record = book.restore(journal.load_all()[0])
    resumption = book.resumption(record)
    journal.close()
    # The last journaled task event, at job time 7: t2's start.
    assert resumption.elapsed_s == pytest.approx(7.0)
    # t1 ran twice: its finished run (the one after the hold) counts.
    assert [(p.task_id, p.start_s, p.end_s) for p in resumption.done] == [
        ("t0", 0.0, 2.0),
        ("t1", 4.5, 6.5),
    ]
    assert resumption.cut_off == ("t2",)
    # The plan the job followed: the re-plan's times laid over the submitted plan's.
    followed = {p.task_id: p for p in resumption.plan.tasks}
    assert set(followed) == {"t0", "t1", "t2", "t3"}
    assert (followed["t2"].start_s, followed["t3"].start_s) == (7.0, 9.0)
    assert followed["t0"] == next(p for p in plan.tasks if p.task_id == "t0")


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_a_resumed_job_runs_its_unfinished_tasks_on_and_completes(
    tmp_path: Path, profile: DeviceProfile, mode: str
) -> None:
    graph = chain(4)
    plan = plan_graph(graph, profile, Level.FAST)
    first_life(tmp_path / "jobs.sqlite3", graph, plan, ran_first_and_started_second)
    record = second_life(tmp_path / "jobs.sqlite3", graph, profile, mode)

    assert record.job.state == job_pb2.JOB_STATE_COMPLETED, record.job.failure_reason
    events = list(record.events)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    at = kinds(events).index("resumed")
    assert kinds(events)[:at] == [
        "planned",
        "job_started",
        "task_started",
        "task_finished",
        "task_started",
    ]
    resumed = events[at].resumed
    assert resumed.after_restart
    assert (resumed.tasks_done, resumed.tasks_rerun, resumed.tasks_cut_off) == (1, 3, 1)
    replanned = events[at + 1]
    assert replanned.WhichOneof("kind") == "replanned"
    assert [t.task_id for t in replanned.replanned.schedule.tasks] == ["t1", "t2", "t3"]
    assert min(t.start_s for t in replanned.replanned.schedule.tasks) >= 2.0 - 1e-9
    after = events[at + 2 :]
    started = [e.task_started.task_id for e in after if e.WhichOneof("kind") == "task_started"]
    assert started == ["t1", "t2", "t3"], "t0 finished before the restart: it does not run again"
    # The job's clock goes on from job time 2 (t1's journaled start) on the new device clock.
    assert record.job.device_start_time_s == pytest.approx(events[at].device_time_s - 2.0)
    result = record.job.result
    ran = [(t.task_id, t.start_s, t.end_s) for t in result.tasks]
    assert ran[0] == ("t0", 0.0, 2.0)
    assert [task_id for task_id, _, _ in ran] == ["t0", "t1", "t2", "t3"]
    for (_, _, end_s), (_, start_s, _) in itertools.pairwise(ran):
        assert start_s >= end_s - 1e-9
    assert result.makespan_s == pytest.approx(ran[-1][2])
    # Every task drew 10 mW for its run: t0's before the restart counts, as journaled.
    ran_s = sum(end_s - start_s for _, start_s, end_s in ran)
    assert result.energy_mj == pytest.approx(10.0 * ran_s, rel=1e-6)


def test_a_job_whose_tasks_had_all_finished_completes_at_once(
    tmp_path: Path, profile: DeviceProfile
) -> None:
    graph = chain(2)
    plan = plan_graph(graph, profile, Level.FAST)

    def play(book: JobBook, record: JobRecord) -> None:
        book.start(record, 5.0)
        for k in range(2):
            book.task_started(record, 5.0 + TASK_S * k, f"t{k}", lane_of(plan, f"t{k}"))
            book.task_finished(record, 5.0 + TASK_S * (k + 1), f"t{k}", lane_of(plan, f"t{k}"))

    first_life(tmp_path / "jobs.sqlite3", graph, plan, play)
    record = second_life(tmp_path / "jobs.sqlite3", graph, profile, "closed")
    assert record.job.state == job_pb2.JOB_STATE_COMPLETED, record.job.failure_reason
    tail = kinds(list(record.events))[-3:]
    assert tail == ["resumed", "replanned", "completed"]
    assert [(t.task_id, t.start_s, t.end_s) for t in record.job.result.tasks] == [
        ("t0", 0.0, 2.0),
        ("t1", 2.0, 4.0),
    ]


def test_a_resume_the_chip_cannot_hold_fails_the_job_saying_why(
    tmp_path: Path, profile: DeviceProfile
) -> None:
    # Every heater at its maximum for a minute: far beyond the limit from any state (planned
    # without heat, so that the first life had a plan at all).
    graph = chain(3, power_mw=30.0, heaters=64, duration_s=60.0)
    plan = plan_graph(graph, profile, Level.FAST, thermal=False)
    first_life(tmp_path / "jobs.sqlite3", graph, plan, ran_first_and_started_second)
    record = second_life(tmp_path / "jobs.sqlite3", graph, profile, "closed")
    assert record.job.state == job_pb2.JOB_STATE_FAILED
    reason = record.job.failure_reason
    assert "photond restarted while the job ran and could not resume it" in reason
    assert "°C" in reason and "max temperature - planning margin" in reason
    assert kinds(list(record.events))[-1] == "failed"
    assert "resumed" not in kinds(list(record.events))
    # What ran before the restart is the result.
    assert [t.task_id for t in record.job.result.tasks] == ["t0"]


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_the_resume_re_plans_off_the_loop_thread(
    tmp_path: Path, profile: DeviceProfile, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large job's re-time takes tenths of a second: the device loop's thread must not spend
    # them (its period is the safety path's). It runs on the re-plan worker, as drift re-plans
    # do; the loop starts the job's tasks once it lands.
    import threading

    from photond.loop import closed_loop
    from photond.planning.replan import replan as real_replan

    threads: list[str] = []

    def replan(*args: object, **kwargs: object) -> Plan:
        threads.append(threading.current_thread().name)
        return real_replan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(closed_loop, "replan", replan)
    graph = chain(4)
    plan = plan_graph(graph, profile, Level.FAST)
    first_life(tmp_path / "jobs.sqlite3", graph, plan, ran_first_and_started_second)
    record = second_life(tmp_path / "jobs.sqlite3", graph, profile, mode)
    assert record.job.state == job_pb2.JOB_STATE_COMPLETED, record.job.failure_reason
    assert threads, "the resume re-planned"
    assert threads[0].startswith("photond-replan"), threads
    assert not any(name.startswith("device-") for name in threads), threads
