"""The job journal (`photond.jobs.journal`): a stored job read back a part at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from photon.v1 import job_pb2
from photond.jobs.journal import BLOB_PART_BYTES, LARGE_EVENT_BYTES, Journal


class _CountedReads:
    """The journal's reading connection, counting the bytes of each blob read."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.reads: list[int] = []

    def execute(self, *args: Any) -> sqlite3.Cursor:
        return self.connection.execute(*args)

    def blobopen(self, *args: Any, **kwargs: Any) -> _CountedBlob:
        return _CountedBlob(self.connection.blobopen(*args, **kwargs), self.reads)


class _CountedBlob:
    def __init__(self, blob: sqlite3.Blob, reads: list[int]) -> None:
        self.blob = blob
        self.reads = reads

    def __enter__(self) -> _CountedBlob:
        self.blob.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.blob.__exit__(*exc)

    def read(self, length: int) -> bytes:
        data = self.blob.read(length)
        self.reads.append(len(data))
        return data


def test_a_stored_job_is_read_back_a_part_at_a_time(tmp_path: Path) -> None:
    # Selected whole, sqlite read a 100k-task job's 10 MB while the reader (CancelJob's answer)
    # held the interpreter: tens of milliseconds of a stalled device loop.
    journal = Journal(tmp_path / "jobs.sqlite3")
    try:
        job = job_pb2.Job(id="job-a", name="n" * (3 * BLOB_PART_BYTES + 123))
        blob = job.SerializeToString()
        journal.save(job, blob=blob).result()
        counted = _CountedReads(journal._reader)
        journal._reader = counted  # type: ignore[assignment]
        assert journal.submitted_blob("job-a") == blob
        assert len(counted.reads) == 4, "not read a part at a time"
        assert max(counted.reads) <= BLOB_PART_BYTES
        assert journal.submitted_blob("job-b") is None
        journal.forget("job-a").result()
        assert journal.submitted_blob("job-a") is None
        journal._reader = counted.connection
    finally:
        journal.close()


def test_a_jobs_message_reaches_sqlite_a_part_at_a_time(tmp_path: Path) -> None:
    # Bound as a statement's parameter, sqlite copied a 100k-task job's 10 MB message with the
    # writer holding the interpreter: a 19 ms stall of the device loop, seen under perf. The
    # trace shows each statement with its parameters as sqlite bound them.
    journal = Journal(tmp_path / "jobs.sqlite3")
    statements: list[str] = []
    try:
        job = job_pb2.Job(id="job-a", name="n" * (3 * BLOB_PART_BYTES + 123))
        blob = job.SerializeToString()
        journal._db.set_trace_callback(statements.append)
        journal.save(job, blob=blob).result()
        journal.save(job_pb2.Job(id="job-b", name="b")).result()
        # A job's first event carries its schedule: 5 MB at 100k tasks.
        first = _event(1, "p" * (2 * LARGE_EVENT_BYTES))
        journal.append_event("job-a", 1, first).result()
        journal.append_event("job-a", 2, _event(2, "small")).result()
        journal._db.set_trace_callback(None)
        assert any("job_messages" in s for s in statements)
        assert max(len(s) for s in statements) < 1000, "a statement carried the message"
        assert journal.submitted_blob("job-a") == blob
        assert (
            journal.submitted_blob("job-b") == job_pb2.Job(id="job-b", name="b").SerializeToString()
        )
        again = job_pb2.Job(id="job-a", name="m" * BLOB_PART_BYTES)
        journal.save(again).result()  # a job saved again (a resumed job) replaces its message
        assert journal.submitted_blob("job-a") == again.SerializeToString()
        assert journal.events_since("job-a", 0) == [first, _event(2, "small")]
        assert journal.events_since("job-a", 1) == [_event(2, "small")]
        loaded = {j.job.id: j for j in journal.load_all()}
        assert {i: j.job.name for i, j in loaded.items()} == {"job-a": again.name, "job-b": "b"}
        assert loaded["job-a"].events.raw_since(0) == [first, _event(2, "small")]
        # Written again small, an event is its new bytes, not the large body it had.
        journal.append_event("job-a", 1, _event(1, "now small")).result()
        assert journal.events_since("job-a", 0)[0] == _event(1, "now small")
        journal.forget("job-a").result()
        assert journal.events_since("job-a", 0) == []
        rows = journal._reader.execute("SELECT count(*) FROM event_bodies").fetchone()
        assert rows == (0,), "a forgotten job's large event stayed"
    finally:
        journal.close()


def _event(sequence: int, job_id: str) -> bytes:
    return job_pb2.JobEvent(sequence=sequence, job_id=job_id).SerializeToString()


def test_an_empty_stored_job_reads_back_empty(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "jobs.sqlite3")
    try:
        journal.save(job_pb2.Job(id="job-a"), blob=b"").result()
        assert journal.submitted_blob("job-a") == b""
    finally:
        journal.close()


def _wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_state_change_does_not_write_the_jobs_message_again(tmp_path: Path) -> None:
    # sqlite writes a row whole: kept in the row a state change updates, a 100k-task job's
    # 10 MB message was written again at its start and at its end.
    path = tmp_path / "jobs.sqlite3"
    journal = Journal(path)
    try:
        job = job_pb2.Job(id="job-a", name="n" * (4 << 20), state=job_pb2.JOB_STATE_QUEUED)
        journal.save(job).result()
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert _wal_bytes(path) == 0
        job.state = job_pb2.JOB_STATE_RUNNING
        job.device_start_time_s = 1.0
        journal.save_state(job).result()
        assert 0 < _wal_bytes(path) < 256 << 10
        assert (
            journal.submitted_blob("job-a")
            == job_pb2.Job(
                id="job-a", name="n" * (4 << 20), state=job_pb2.JOB_STATE_QUEUED
            ).SerializeToString()
        )
        [stored] = journal.load_all()
        assert stored.job.state == job_pb2.JOB_STATE_RUNNING
        assert stored.job.device_start_time_s == 1.0 and len(stored.job.name) == 4 << 20
    finally:
        journal.close()


def test_a_journal_written_before_job_messages_reads_back(tmp_path: Path) -> None:
    # Its messages are in the jobs table itself, as the first releases wrote them.
    path = tmp_path / "jobs.sqlite3"
    job = job_pb2.Job(id="job-old", name="old", state=job_pb2.JOB_STATE_COMPLETED)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, device_id TEXT NOT NULL, "
            "state INTEGER NOT NULL, submitted_at_unix_s REAL NOT NULL, job BLOB NOT NULL)"
        )
        db.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, ?, ?)",
            ("job-old", "sim0", int(job.state), 1.0, job.SerializeToString()),
        )
    journal = Journal(path)
    try:
        assert journal.submitted_blob("job-old") == job.SerializeToString()
        [stored] = journal.load_all()
        assert stored.job == job
        journal.save(job_pb2.Job(id="job-new", name="new")).result()
        assert sorted(j.job.id for j in journal.load_all()) == ["job-new", "job-old"]
        journal.forget("job-old").result()
        assert journal.submitted_blob("job-old") is None
    finally:
        journal.close()
