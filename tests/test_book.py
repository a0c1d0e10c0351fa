"""The job book: submissions made once whatever the retries, histories that survive a restart.

Every test uses a real SQLite journal in a temporary folder and reopens it the way a restarted
daemon does.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path

import pytest

from photon.v1 import job_pb2
from photond.jobs import book as book_module
from photond.jobs.book import FollowEnded, JobBook, JobRecord, RequestConflict
from photond.jobs.journal import Journal
from photond.tracing import JobTrace


def record(job_id: str, request_id: str = "", digest: str = "d1") -> JobRecord:
    job = job_pb2.Job(id=job_id, device_id="sim0", request_id=request_id)
    job.submitted_at.FromNanoseconds(1_000_000_000 + len(job_id))
    return JobRecord(job=job, graph=None, plan=None, request_digest=digest)


def reopen(path: Path) -> tuple[Journal, JobBook]:
    journal = Journal(path)
    book = JobBook(journal)
    for journaled in journal.load_all():
        book.restore(journaled)
    return journal, book


def test_a_submission_is_on_disk_and_queued_when_submit_returns(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.sqlite3")
    queued: list[str] = []
    submitted = record("job-a")
    submitted.job.schedule.tasks.add(task_id="t0", lane_id="wl0", start_s=0.0, end_s=0.5)
    submitted.job.schedule.makespan_s = 0.5
    stood = JobBook(journal).submit(submitted, 0.0, lambda r: queued.append(r.id))
    assert stood.id == "job-a" and queued == ["job-a"]
    # A second connection sees it without the first one flushing or closing.
    other = Journal(tmp_path / "jobs.sqlite3")
    (journaled,) = other.load_all()
    assert journaled.job.state == job_pb2.JOB_STATE_QUEUED
    assert [e.sequence for e in journaled.events] == [1]
    assert journaled.events[0].WhichOneof("kind") == "planned"
    assert journaled.events[0].planned.schedule == stood.job.schedule
    other.close()
    journal.close()


def test_a_retried_request_id_returns_the_first_job_and_queues_nothing_more(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    queued: list[str] = []
    first = book.submit(record("job-a", "key-1"), 0.0, lambda r: queued.append(r.id))
    again = book.submit(record("job-b", "key-1"), 0.0, lambda r: queued.append(r.id))
    assert again is first and queued == ["job-a"]
    assert book.submitted("key-1", "d1") is first
    assert book.get("job-b") is None
    journal.close()
    assert [j.job.id for j in Journal(tmp_path / "jobs.sqlite3").load_all()] == ["job-a"]


def test_the_same_request_id_with_another_request_is_a_conflict(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    book.submit(record("job-a", "key-1", digest="d1"), 0.0)
    with pytest.raises(RequestConflict, match="job-a"):
        book.submit(record("job-b", "key-1", digest="d2"), 0.0)
    with pytest.raises(RequestConflict):
        book.submitted("key-1", "d2")
    # Without a key, two identical submissions are two jobs: the client asked for no dedup.
    book.submit(record("job-c"), 0.0)
    book.submit(record("job-d"), 0.0)
    assert {j.id for j in book.list("", 10)} == {"job-a", "job-c", "job-d"}
    journal.close()


def test_concurrent_submissions_of_one_request_id_make_one_job(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    results: list[JobRecord] = []
    lock = threading.Lock()

    def submit(i: int) -> None:
        stood = book.submit(record(f"job-{i}", "key-1"), 0.0)
        with lock:
            results.append(stood)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.id for r in results}) == 1
    journal.close()
    assert len(Journal(tmp_path / "jobs.sqlite3").load_all()) == 1


def test_a_jobs_history_replays_with_its_numbers_after_a_restart_and_goes_on_from_there(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    journal = Journal(path)
    book = JobBook(journal)
    job = book.submit(record("job-a", "key-1"), 0.0)
    book.start(job, 1.0)
    book.task_started(job, 1.0, "t0", "wl0")
    book.task_finished(job, 1.5, "t0", "wl0")
    before = [(e.sequence, e.WhichOneof("kind")) for e in job.events]
    journal.close()

    journal, book = reopen(path)
    restored = book.get("job-a")
    assert restored is not None
    assert [(e.sequence, e.WhichOneof("kind")) for e in restored.events] == before
    assert restored.job.state == job_pb2.JOB_STATE_RUNNING
    book.fail(restored, 0.0, "stopped while it ran")
    assert [e.sequence for e in restored.events] == [1, 2, 3, 4, 5]
    # The key still finds the job after the restart: a late retry makes no second one.
    assert book.submit(record("job-b", "key-1"), 0.0) is restored
    journal.close()

    journal, book = reopen(path)
    again = book.get("job-a")
    assert again is not None and again.job.state == job_pb2.JOB_STATE_FAILED
    assert again.events[-1].WhichOneof("kind") == "failed"
    journal.close()


def test_a_journal_from_before_events_gains_the_columns_and_a_first_event(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, device_id TEXT NOT NULL, state INTEGER NOT NULL,"
        " submitted_at_unix_s REAL NOT NULL, job BLOB NOT NULL);"
    )
    job = job_pb2.Job(id="job-old", device_id="sim0", state=job_pb2.JOB_STATE_QUEUED)
    old.execute(
        "INSERT INTO jobs VALUES (?, ?, ?, ?, ?)", (job.id, "sim0", 2, 1.0, job.SerializeToString())
    )
    old.commit()
    old.close()
    journal, book = reopen(path)
    restored = book.get("job-old")
    assert restored is not None
    assert [e.WhichOneof("kind") for e in restored.events] == ["planned"]
    journal.close()


def test_changes_after_close_are_dropped_not_raised(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    job = book.submit(record("job-a"), 0.0)
    journal.close()
    book.task_started(job, 1.0, "t0", "wl0")  # a device loop late in shutdown: no exception
    assert job.events[-1].WhichOneof("kind") == "task_started"


def test_a_state_change_rewrites_only_what_changed_and_reads_back_whole(tmp_path: Path) -> None:
    # The device loop records starts and ends: the graph and schedule (megabytes for a large
    # job) are written once, at submission, and the job reads back with both and its result.
    import sqlite3

    path = tmp_path / "jobs.sqlite3"
    journal = Journal(path)
    book = JobBook(journal)
    job = record("job-a")
    job.job.graph.tasks.add(id="t0", duration_s=0.5)
    job.job.schedule.tasks.add(task_id="t0", lane_id="wl0", start_s=0.0, end_s=0.5)
    book.submit(job, 0.0)
    journal.flush()

    def stored() -> bytes:
        with sqlite3.connect(path) as db:
            blob: bytes = db.execute("SELECT job FROM job_messages").fetchone()[0]
        return blob

    submitted = stored()
    book.start(job, 1.0)
    result = job_pb2.JobResult(makespan_s=0.5, peak_temperature_c=31.0)
    result.tasks.add(task_id="t0", lane_id="wl0", start_s=0.0, end_s=0.5)
    book.complete(job, 1.5, result)
    journal.flush()
    assert stored() == submitted
    journal.close()

    journal, book = reopen(path)
    again = book.get("job-a")
    assert again is not None
    whole = book.snapshot(again)
    assert whole.state == job_pb2.JOB_STATE_COMPLETED
    assert whole.HasField("started_at") and whole.HasField("finished_at")
    assert (whole.device_start_time_s, whole.device_end_time_s) == (1.0, 1.5)
    assert whole.result == result
    assert [t.id for t in whole.graph.tasks] == ["t0"]
    assert [t.task_id for t in whole.schedule.tasks] == ["t0"]
    journal.close()


def test_a_finished_job_keeps_its_tasks_on_disk_only_and_reads_back_whole(
    tmp_path: Path,
) -> None:
    # Thousands of finished jobs stay in the book for retention: their graphs and schedules
    # (megabytes each for large jobs) stay in the journal, and GetJob still answers whole.
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    job = record("job-a")
    for i in range(3):
        job.job.graph.tasks.add(id=f"t{i}", duration_s=0.5)
        job.job.schedule.tasks.add(task_id=f"t{i}", lane_id="wl0", start_s=i, end_s=i + 0.5)
    job.job.schedule.planning_time_s = 0.25
    job.job.task_count = 3
    book.submit(job, 0.0)
    running = book.snapshot(job)
    book.start(job, 1.0)
    assert len(job.job.graph.tasks) == 3  # the loop runs from them
    book.complete(job, 4.0, job_pb2.JobResult(makespan_s=2.5))

    assert not job.job.graph.tasks and not job.job.schedule.tasks
    whole = book.snapshot(job)
    assert whole.graph == running.graph and whole.schedule == running.schedule
    assert whole.state == job_pb2.JOB_STATE_COMPLETED and whole.result.makespan_s == 2.5
    # A listing says how many tasks, without them.
    [listed] = book.list("", 10)
    assert listed.task_count == 3
    assert not listed.graph.tasks and not listed.schedule.tasks and not listed.result.tasks
    assert listed.state == whole.state and listed.schedule.planning_time_s == 0.25
    assert book.stats("").planning_time_total_s == 0.25
    journal.close()


def test_an_answer_is_the_job_as_it_stands_at_every_state(tmp_path: Path) -> None:
    # GetJob and CancelJob answer bytes assembled from the journal's copy of the submission and
    # the job's changes since: parsed, they are exactly the job message, at every state.
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    job = record("job-a")
    job.job.name = "answers"
    job.job.graph.tasks.add(id="t0", duration_s=0.5)
    job.job.graph.tasks.add(id="t1", duration_s=0.5, depends_on=["t0"])
    job.job.schedule.tasks.add(task_id="t0", lane_id="wl0", start_s=0.0, end_s=0.5)
    job.job.schedule.tasks.add(task_id="t1", lane_id="wl0", start_s=0.5, end_s=1.0)
    job.job.schedule.makespan_s = 1.0
    job.job.task_count = 2
    book.submit(job, 0.0)

    def answered() -> job_pb2.Job:
        return job_pb2.Job.FromString(book.answer(job))

    assert answered() == job.job
    whole = job_pb2.Job()
    whole.CopyFrom(job.job)
    book.start(job, 1.0)
    assert answered() == job.job and answered().state == job_pb2.JOB_STATE_RUNNING
    result = job_pb2.JobResult(makespan_s=1.0)
    result.tasks.add(task_id="t0", lane_id="wl0", start_s=0.0, end_s=0.5)
    result.tasks.add(task_id="t1", lane_id="wl0", start_s=0.5, end_s=1.0)
    book.fail(job, 2.0, "stopped", result)
    assert job.shed
    whole.MergeFrom(job.job)  # the finished job's fields over the submitted graph and schedule
    finished = answered()
    assert finished == whole
    assert len(finished.schedule.tasks) == 2 and finished.result == result
    assert finished.failure_reason == "stopped" and finished.device_end_time_s == 2.0
    assert book.snapshot(job) == finished
    journal.close()


def _finished(book: JobBook, job_id: str, finished_s: float, request_id: str = "") -> JobRecord:
    job = book.submit(record(job_id, request_id), 0.0)
    book.complete(job, 1.0, job_pb2.JobResult())
    job.job.finished_at.FromNanoseconds(int(finished_s * 1e9))
    return job


def test_retention_forgets_finished_jobs_beyond_the_count_or_the_age_never_live_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    journal = Journal(path)
    book = JobBook(journal)
    for k, finished_s in enumerate((100.0, 200.0, 300.0, 400.0)):
        _finished(book, f"done-{k}", finished_s, request_id=f"key-{k}")
    queued = book.submit(record("queued"), 0.0)
    running = book.submit(record("running"), 0.0)
    book.start(running, 0.0)
    # The newest three finished stay by count; of those, one finished too long ago.
    assert sorted(book.prune(keep=3, max_age_s=150.0, now_wall_s=450.0)) == ["done-0", "done-1"]
    assert book.get("done-0") is None and book.get("done-2") is not None
    assert book.get(queued.id) is queued and book.get(running.id) is running
    # A forgotten job's key finds nothing any more; a kept one's still does.
    assert book.submitted("key-0", "d1") is None
    assert book.submitted("key-3", "d1") is not None
    assert book.prune(keep=0, max_age_s=1e9, now_wall_s=450.0) == ["done-3", "done-2"]
    journal.close()

    journal, book = reopen(path)
    assert {j.id for j in book.list("", 100)} == {"queued", "running"}
    journal.close()


def test_each_job_that_finishes_is_told_once_so_the_retention_can_run(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    told: list[int] = []
    book.on_finished = lambda: told.append(len(told))
    done, failed, cancelled, running = (book.submit(record(i), 0.0) for i in "abcd")
    book.start(running, 0.0)
    assert told == []  # submitted and started: nothing to forget yet
    book.complete(done, 1.0, job_pb2.JobResult())
    book.fail(failed, 1.0, "reason")
    book.cancel(cancelled, 1.0)
    assert len(told) == 3
    # Failing or cancelling a job that has ended changes nothing, and tells nothing.
    book.fail(done, 2.0, "late")
    book.cancel(failed, 2.0)
    assert len(told) == 3
    journal.close()


def _spilled(job: JobRecord) -> bool:
    return job.events.spilled


async def _followed(book: JobBook, job: JobRecord) -> list[tuple[int, str]]:
    return [
        (e.sequence, e.WhichOneof("kind") or "")
        for e in map(job_pb2.JobEvent.FromString, [b async for b in book.follow(job)])
    ]


def test_a_finished_jobs_events_leave_memory_once_on_disk_and_replay_from_it(
    tmp_path: Path,
) -> None:
    # A finished job's history (two events a task) stays readable for the retention's
    # thousands of jobs, from the journal: in memory only its count stays.
    path = tmp_path / "jobs.sqlite3"
    journal = Journal(path)
    book = JobBook(journal)
    job = book.submit(record("job-a"), 0.0)
    book.start(job, 1.0)
    for k in range(50):
        book.task_started(job, 1.0 + k, f"t{k}", "wl0")
        book.task_finished(job, 1.5 + k, f"t{k}", "wl0")
    whole = [(e.sequence, e.WhichOneof("kind") or "") for e in job.events]
    assert not _spilled(job)  # a running job's events are in memory
    book.complete(job, 60.0, job_pb2.JobResult(makespan_s=59.0))
    journal.flush()  # the writer spills once the last event is on disk
    assert _spilled(job) and len(job.events) == 103
    expected = [*whole, (103, "completed")]
    assert asyncio.run(_followed(book, job)) == expected
    assert [e.sequence for e in job.events] == list(range(1, 104))
    journal.close()

    # Read back at a restart: finished, its events in the journal only.
    journal, book = reopen(path)
    restored = book.get("job-a")
    assert restored is not None and restored.events.spilled and len(restored.events) == 103
    assert asyncio.run(_followed(book, restored)) == expected
    # Forgotten by the retention meanwhile: a watch ends instead of waiting for ever.
    book.prune(0, 1e9, 0.0)
    journal.flush()
    assert asyncio.run(_followed(book, restored)) == []
    journal.close()


def test_a_finished_jobs_events_are_freed_by_the_disposer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dropped on the journal's writer thread, a 100k-task job's 200k events held the
    # interpreter 5 ms (11 ms on glibc's malloc): the disposer frees them a chunk at a time.
    handed: list[tuple[object, ...]] = []
    monkeypatch.setattr(book_module, "dispose", lambda *parts: handed.append(parts))
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    job = book.submit(record("job-a"), 0.0)
    book.start(job, 1.0)
    for k in range(10):
        book.task_started(job, 1.0 + k, f"t{k}", "wl0")
    book.complete(job, 20.0, job_pb2.JobResult(makespan_s=19.0))
    journal.flush()
    assert _spilled(job)
    events = [parts[0] for parts in handed if parts and isinstance(parts[0], list)]
    assert [len(e) for e in events] == [13], "the events were not handed to the disposer"
    journal.close()


@pytest.mark.parametrize("end", ["complete", "fail", "cancel"])
def test_a_finished_job_lets_go_of_its_trace_once_its_spans_have_ended(
    tmp_path: Path, end: str
) -> None:
    # The trace's context holds the SubmitJob call's span; a retained finished job kept it
    # (and the objects of a burst's jobs pinned pymalloc arenas: docs/operations.md, Memory).
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    job = record("job-a")
    job.trace = JobTrace(None)
    trace = weakref.ref(job.trace)
    book.submit(job, 0.0)
    book.start(job, 1.0)
    assert job.trace is not None  # the run's re-plans hang under it
    if end == "complete":
        book.complete(job, 2.0, job_pb2.JobResult(makespan_s=1.0))
    elif end == "fail":
        book.fail(job, 2.0, "the device failed")
    else:
        book.cancel(job, 2.0)
    gc.collect()
    finished = book.get("job-a")
    assert finished is job and finished.trace is None and trace() is None
    assert book.snapshot(job).state in (
        job_pb2.JOB_STATE_COMPLETED,
        job_pb2.JOB_STATE_FAILED,
        job_pb2.JOB_STATE_CANCELLED,
    )
    journal.close()


def test_a_forgotten_job_leaves_nothing_behind_and_a_kept_one_holds_no_task_objects(
    tmp_path: Path,
) -> None:
    # Whatever outlives a burst of jobs pins pymalloc arenas (docs/operations.md, Memory): a
    # finished job keeps no per-task objects, and once the retention forgets it, nothing of
    # the book, the journal's callbacks or the trimmer holds its record.
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    job = record("job-a", "key-a")
    for i in range(200):
        job.job.graph.tasks.add(id=f"t{i}", duration_s=0.5)
        job.job.schedule.tasks.add(task_id=f"t{i}", lane_id="wl0", start_s=i, end_s=i + 0.5)
    book.submit(job, 0.0)
    book.start(job, 1.0)
    for i in range(200):
        book.task_started(job, 1.0 + i, f"t{i}", "wl0")
        book.task_finished(job, 1.5 + i, f"t{i}", "wl0")
    book.complete(job, 300.0, job_pb2.JobResult(makespan_s=299.0))
    journal.flush()
    assert job.shed and job.events.spilled and job.graph is None and job.plan is None
    assert not job.job.graph.tasks and not job.job.schedule.tasks
    assert job.events.raw_since(0)  # read from the journal
    gone = weakref.ref(job)
    del job
    assert book.prune(0, 1e9, 2e9) == ["job-a"]
    journal.flush()
    gc.collect()
    assert gone() is None
    assert book.get("job-a") is None and not book.submitted_any("key-a")
    journal.close()


def test_ending_the_follows_ends_a_queued_jobs_watch_after_its_events(tmp_path: Path) -> None:
    # A queued job's watch waits for events that may be hours away; a stopping daemon ends it.
    journal = Journal(tmp_path / "jobs.sqlite3")
    book = JobBook(journal)
    job = book.submit(record("job-a"), 0.0)

    async def watch() -> tuple[list[str], str]:
        seen: list[str] = []
        try:
            async for raw in book.follow(job):
                seen.append(job_pb2.JobEvent.FromString(raw).WhichOneof("kind") or "")
                asyncio.get_running_loop().call_soon(book.end_follows, "photond is stopping")
        except FollowEnded as ended:
            return seen, str(ended)
        return seen, "the watch ended by itself"

    assert asyncio.run(watch()) == (["planned"], "photond is stopping")
    # A watch that starts later still gets the job's history, then ends the same way.
    assert asyncio.run(watch()) == (["planned"], "photond is stopping")
    journal.close()
