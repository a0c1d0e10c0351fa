"""The job journal: every job, and every event of it, in SQLite (WAL), written by one thread.

A job is stored as its whole `photon.v1.Job` message, in a table of its own (`job_messages`),
and a row of the columns needed to find it (its submission's idempotency key and a digest of
the request among them) and of what changes after submission (`save_state`: the job without
its graph and schedule, merged over the stored message when read back). A state change rewrites
only that small row: sqlite writes a row whole, so with the message in it each start or end of
a 100k-task job wrote its 10 MB again, ~50 ms of a core in the kernel that the device loop
needed (benchmarks/loop_stall.py under `perf`). Journals written before keep their messages in
`jobs.job`, read as before.
Each `JobEvent` is a row of its own, keyed by (job, sequence); one of 256 KB or more (a job's
first, which carries its schedule) keeps its bytes in `event_bodies`. Large values reach sqlite
through a blob handle a part at a time (`Journal._write_large`), never bound whole. On start the
daemon reads the journal back, so a job's history replays with the numbers it had.

Writes go through one writer thread in the order they were asked for, a batch per transaction:
the device loops record task events and state changes without waiting for the disk (the loop
is the safety path), and SubmitJob waits for its own write (`save(...).result()`) before the
job is queued and acknowledged. What a crash can lose is the tail of writes not yet committed,
never an acknowledged submission.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from photon.v1 import job_pb2
from photond.thread_names import name_this_thread

log = logging.getLogger("photond.journal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    submitted_at_unix_s REAL NOT NULL,
    job BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (submitted_at_unix_s);
CREATE TABLE IF NOT EXISTS job_messages (
    id TEXT PRIMARY KEY,
    job BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (job_id, sequence)
) WITHOUT ROWID;
-- An event of `LARGE_EVENT_BYTES` or more (a job's first, which carries its schedule): its
-- `events` row holds x'' and its bytes are here, written through a blob handle (`events` has
-- no rowid to open one on).
CREATE TABLE IF NOT EXISTS event_bodies (
    job_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (job_id, sequence)
);
CREATE TABLE IF NOT EXISTS device_limits (
    device_id TEXT PRIMARY KEY,
    limits BLOB NOT NULL,
    updated_at_unix_s REAL NOT NULL
);
"""
# Columns added after the first release: journals written before them gain them on open.
_ADDED_COLUMNS = (
    ("request_id", "TEXT NOT NULL DEFAULT ''"),
    ("request_digest", "TEXT NOT NULL DEFAULT ''"),
    ("progress", "BLOB NOT NULL DEFAULT x''"),
)
# The scalar fields of a job that change after it is submitted (`save_state`; its messages
# started_at, finished_at and result too).
_PROGRESS_SCALARS = ("state", "device_start_time_s", "device_end_time_s", "failure_reason")
# Most writes one transaction takes: a burst of task events commits in a few batches.
_BATCH = 4096
# Bytes of a stored large value read or written per call (`Journal.submitted_blob`,
# `Journal._write_large`): each call lets the interpreter go.
BLOB_PART_BYTES = 1 << 18
# Events of this many bytes or more go to `event_bodies` (`Journal.append_event`).
LARGE_EVENT_BYTES = BLOB_PART_BYTES


class EventLog(Sequence[job_pb2.JobEvent]):
    """A job's events in order, each kept serialized: as the journal stores it and as WatchJob
    sends it.

    A message object costs about a kilobyte of memory where its bytes cost tens, and a job
    records two events a task: kept as messages, the history of a 100k-task job held some
    200 MB, and every finished job the retention keeps held its history too. Reading an item
    parses it; `raw_since` hands the bytes on unparsed.

    Kept as bytes, a finished job's history still held ~170 bytes an event in memory (measured
    with tracemalloc in a daemon: 46,656 events, 7.9 MB), some 7 MB for a 20k-task job, for each
    of the up to `retain_finished_jobs` (10,000) finished jobs the daemon keeps. Once a job's
    last event is on disk, `spill` lets the bytes go: the count stays, and the events are read
    back from the journal when asked for (`raw_since` then reads the disk: call it off the
    event loop and outside locks the device loops take).
    """

    def __init__(self, blobs: Iterable[bytes] = ()) -> None:
        self._blobs = list(blobs)
        # Once spilled: how many events the job has, and how to read them from the journal.
        self._count = 0
        self._read: Callable[[int], list[bytes]] | None = None

    @property
    def spilled(self) -> bool:
        """Whether the events are read from the journal (`spill`)."""
        return self._read is not None

    def spill(self, read: Callable[[int], list[bytes]]) -> list[bytes]:
        """Let the events' bytes go; from now on `read(start)` gives those from index `start`
        on (every one of them must be on disk already). Returns the bytes let go, for the
        caller to drop outside its locks: freeing a large job's history takes milliseconds."""
        if self._read is not None:
            return []
        blobs, self._blobs = self._blobs, []
        self._count = len(blobs)
        self._read = read
        return blobs

    def append(self, blob: bytes) -> None:
        if self._read is not None:
            self._count += 1  # journaled by the caller: read back from there
        else:
            self._blobs.append(blob)

    def extend(self, blobs: Iterable[bytes]) -> None:
        for blob in blobs:
            self.append(blob)

    def raw_since(self, start: int) -> list[bytes]:
        """The serialized events from index `start` on."""
        if self._read is not None:
            return self._read(start)
        return self._blobs[start:]

    def __len__(self) -> int:
        return self._count if self._read is not None else len(self._blobs)

    @overload
    def __getitem__(self, index: int) -> job_pb2.JobEvent: ...
    @overload
    def __getitem__(self, index: slice) -> list[job_pb2.JobEvent]: ...
    def __getitem__(self, index: int | slice) -> job_pb2.JobEvent | list[job_pb2.JobEvent]:
        blobs = self.raw_since(0) if self._read is not None else self._blobs
        if isinstance(index, slice):
            return [job_pb2.JobEvent.FromString(b) for b in blobs[index]]
        return job_pb2.JobEvent.FromString(blobs[index])

    def __iter__(self) -> Iterator[job_pb2.JobEvent]:
        return (job_pb2.JobEvent.FromString(b) for b in list(self.raw_since(0)))


@dataclass
class JournaledJob:
    """A job as read back at start: its message, its events in order, its request's digest."""

    job: job_pb2.Job
    events: EventLog = field(default_factory=EventLog)
    request_digest: str = ""


class Journal:
    """Durable job storage shared by the RPC threads and the device loops."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
        # Reads of single jobs come from RPC threads while the writer writes: a connection of
        # their own (WAL lets it read what is committed), one reader at a time.
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._read_lock = threading.Lock()
        self._writes: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="journal", daemon=True)
        self._writer.start()

    # -- writes (in order, by the writer thread) --------------------------------------------

    def save(
        self, job: job_pb2.Job, request_digest: str = "", blob: bytes | None = None
    ) -> Future[None]:
        """Insert or replace a job (its message copied now, or `blob`: the same message already
        serialised); the future is done once it is on disk. `request_digest` is stored with a
        new job only."""
        row = (
            job.id,
            job.device_id,
            int(job.state),
            job.submitted_at.ToNanoseconds() / 1e9,
            job.request_id,
            request_digest,
        )
        message = job.SerializeToString() if blob is None else blob
        save_message = (_SAVE_MESSAGE, (job.id, len(message)))
        return self._put(
            _Write(_SAVE_JOB, row, (save_message,), _Large("job_messages", "job", message))
        )

    def save_state(self, job: job_pb2.Job) -> Future[None]:
        """Store what changed of a job saved before: its state, times, result and failure
        reason (copied now), not its graph and schedule."""
        progress = job_pb2.Job()
        for name in _PROGRESS_SCALARS:
            setattr(progress, name, getattr(job, name))
        if job.HasField("started_at"):
            progress.started_at.CopyFrom(job.started_at)
        if job.HasField("finished_at"):
            progress.finished_at.CopyFrom(job.finished_at)
        if job.HasField("result"):
            progress.result.CopyFrom(job.result)
        row = (int(job.state), progress.SerializeToString(), job.id)
        return self._put(_Write(_SAVE_STATE, row))

    def forget(self, job_id: str) -> Future[None]:
        """Delete a job and its events (retention)."""
        self._put(_Write(_FORGET_EVENTS, (job_id,), ((_FORGET_EVENT_BODIES, (job_id,)),)))
        return self._put(_Write(_FORGET_JOB, (job_id,), ((_FORGET_MESSAGE, (job_id,)),)))

    def append_event(self, job_id: str, sequence: int, blob: bytes) -> Future[None]:
        """Store one event of a job, serialized; the future is done once it is on disk."""
        if len(blob) < LARGE_EVENT_BYTES:
            return self._put(_Write(_SAVE_EVENT, (job_id, sequence, blob)))
        body = (_SAVE_EVENT_BODY, (job_id, sequence, len(blob)))
        large = _Large("event_bodies", "event", blob)
        return self._put(_Write(_SAVE_EVENT, (job_id, sequence, b""), (body,), large))

    def save_limits(self, device_id: str, blob: bytes, at_unix_s: float) -> Future[None]:
        """Store the operating limits an admin set for a device (a serialized
        `photon.v1.Limits`); the future is done once they are on disk."""
        return self._put(_Write(_SAVE_LIMITS, (device_id, blob, at_unix_s)))

    def flush(self) -> None:
        """Wait until every write asked for so far is on disk."""
        self._put(_Write("", ())).result()

    def _put(self, write: _Write) -> Future[None]:
        if self._closed:
            # A device loop recording a late event during shutdown must not raise: say so.
            log.warning("journal closed; a write was dropped")
            write.done.set_exception(RuntimeError("the journal is closed"))
            return write.done
        self._writes.put(write)
        return write.done

    def _write_loop(self) -> None:
        name_this_thread("photond-journal")
        while True:
            first = self._writes.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < _BATCH:
                try:
                    item = self._writes.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._writes.put(None)  # stop after this batch
                    break
                batch.append(item)
            try:
                self._db.execute("BEGIN")
                for write in batch:
                    if write.sql:
                        self._db.execute(write.sql, write.row)
                    rowid = None
                    for sql, row in write.more:
                        rowid = self._db.execute(sql, row).lastrowid
                    if write.large is not None:
                        self._write_large(rowid, write.large)
                self._db.execute("COMMIT")
            except Exception as exc:  # disk full, I/O error: the writers must hear of it
                log.exception("journal write failed")
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                for write in batch:
                    write.done.set_exception(exc)
                continue
            for write in batch:
                write.done.set_result(None)

    def _write_large(self, rowid: int | None, large: _Large) -> None:
        """Fill a row made with zeros of `large`'s length, `BLOB_PART_BYTES` at a time. Bound
        as a parameter, sqlite copies a value into a new block with the interpreter held: for
        a 100k-task job's 10 MB message that copy, and the faults on the block's fresh pages,
        held the device loop out for 19 ms, and 7.6 ms for its first event's 5 MB (`perf` on
        benchmarks/loop_stall.py). Each incremental write lets the interpreter go."""
        assert rowid is not None
        view = memoryview(large.data)
        with self._db.blobopen(large.table, large.column, rowid) as blob:
            for start in range(0, len(view), BLOB_PART_BYTES):
                blob.write(view[start : start + BLOB_PART_BYTES])

    # -- reads --------------------------------------------------------------------------------

    def submitted_blob(self, job_id: str) -> bytes | None:
        """A job as it was submitted (its graph and planned schedule), serialized, from disk;
        None once forgotten. A submission's row is written before it is acknowledged, so every
        job the book holds has one.

        Read `BLOB_PART_BYTES` at a time: selected whole, sqlite reads every page of the
        message while the caller holds the interpreter, and a 100k-task job's 10 MB, read
        while the writer rewrote its row (CancelJob: the job's end), held the device loop out
        for tens of milliseconds."""
        parts: list[bytes] = []
        with self._read_lock:
            if self._closed:
                return None
            # One snapshot for the row's place and its bytes: the writer may forget the job.
            self._reader.execute("BEGIN")
            try:
                table = "job_messages"
                row = self._reader.execute(
                    "SELECT rowid, length(job) FROM job_messages WHERE id = ?", (job_id,)
                ).fetchone()
                if row is None:  # a journal written before `job_messages`
                    table = "jobs"
                    row = self._reader.execute(
                        "SELECT rowid, length(job) FROM jobs WHERE id = ?", (job_id,)
                    ).fetchone()
                if row is None:
                    return None
                rowid, size = row
                with self._reader.blobopen(table, "job", rowid, readonly=True) as blob:
                    while len(parts) * BLOB_PART_BYTES < size:
                        parts.append(blob.read(BLOB_PART_BYTES))
            finally:
                self._reader.execute("COMMIT")
        return b"".join(parts)

    def events_since(self, job_id: str, start: int) -> list[bytes]:
        """A job's serialized events from index `start` on (sequence `start` + 1), from disk:
        those committed so far; none once forgotten. A closed journal still reads them from
        its file (a finished job's events live only there: `EventLog.spill`)."""
        query = (
            f"SELECT {_EVENT} FROM {_EVENTS} WHERE e.job_id = ? AND e.sequence > ? "
            "ORDER BY e.sequence"
        )
        with self._read_lock:
            if not self._closed:
                rows = self._reader.execute(query, (job_id, start)).fetchall()
            else:
                with contextlib.closing(
                    sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
                ) as reader:
                    rows = reader.execute(query, (job_id, start)).fetchall()
        return [bytes(row[0]) for row in rows]

    def load_all(self) -> list[JournaledJob]:
        """Every journaled job with its events, oldest job first."""
        self.flush()
        rows = self._db.execute(
            "SELECT jobs.id, coalesce(job_messages.job, jobs.job), progress, request_digest "
            "FROM jobs LEFT JOIN job_messages ON job_messages.id = jobs.id "
            "ORDER BY submitted_at_unix_s, jobs.rowid"
        ).fetchall()
        jobs: dict[str, JournaledJob] = {}
        for job_id, blob, progress, digest in rows:
            job = job_pb2.Job()
            job.ParseFromString(blob)
            job.MergeFromString(progress)
            jobs[job_id] = JournaledJob(job, request_digest=digest)
        for job_id, blob in self._db.execute(
            f"SELECT e.job_id, {_EVENT} FROM {_EVENTS} ORDER BY e.job_id, e.sequence"
        ):
            if job_id in jobs:
                jobs[job_id].events.append(blob)
        return list(jobs.values())

    def load_limits(self) -> dict[str, bytes]:
        """The limits UpdateLimits set, serialized, by device id."""
        self.flush()
        return dict(self._db.execute("SELECT device_id, limits FROM device_limits").fetchall())

    def close(self) -> None:
        """Write what is queued, then close the database."""
        if self._closed:
            return
        self._closed = True
        self._writes.put(None)
        self._writer.join()
        self._db.close()
        with self._read_lock:
            self._reader.close()


# A job's row keeps its `job` column empty: the message is in `job_messages`.
_SAVE_JOB = (
    "INSERT INTO jobs (id, device_id, state, submitted_at_unix_s, job, request_id, "
    "request_digest) VALUES (?, ?, ?, ?, x'', ?, ?) ON CONFLICT(id) DO UPDATE SET "
    "state = excluded.state, job = x'', progress = x''"
)
# The message itself follows through an incremental blob handle (`Journal._write_large`).
_SAVE_MESSAGE = "INSERT OR REPLACE INTO job_messages (id, job) VALUES (?, zeroblob(?))"
_FORGET_MESSAGE = "DELETE FROM job_messages WHERE id = ?"
_SAVE_STATE = "UPDATE jobs SET state = ?, progress = ? WHERE id = ?"
_FORGET_EVENTS = "DELETE FROM events WHERE job_id = ?"
_FORGET_EVENT_BODIES = "DELETE FROM event_bodies WHERE job_id = ?"
_FORGET_JOB = "DELETE FROM jobs WHERE id = ?"
_SAVE_EVENT = "INSERT OR REPLACE INTO events (job_id, sequence, event) VALUES (?, ?, ?)"
_SAVE_EVENT_BODY = (
    "INSERT OR REPLACE INTO event_bodies (job_id, sequence, event) VALUES (?, ?, zeroblob(?))"
)
# An event's bytes, from `events` or, where that holds x'' (no event serialises to nothing),
# from `event_bodies` (looked up for those rows alone): a body left by an event written again
# small is not read.
_EVENTS = "events AS e"
_EVENT = (
    "CASE WHEN length(e.event) = 0 THEN (SELECT b.event FROM event_bodies AS b "
    "WHERE b.job_id = e.job_id AND b.sequence = e.sequence) ELSE e.event END"
)
_SAVE_LIMITS = (
    "INSERT OR REPLACE INTO device_limits (device_id, limits, updated_at_unix_s) VALUES (?, ?, ?)"
)


@dataclass
class _Write:
    sql: str
    row: tuple[object, ...]
    # Statements of the same write, in the same transaction.
    more: tuple[tuple[str, tuple[object, ...]], ...] = ()
    # Bytes written into the row the last of `more` made (`Journal._write_large`).
    large: _Large | None = None
    done: Future[None] = field(default_factory=Future)


@dataclass(frozen=True)
class _Large:
    """A value too large to bind: the table and column it fills, and its bytes."""

    table: str
    column: str
    data: bytes
