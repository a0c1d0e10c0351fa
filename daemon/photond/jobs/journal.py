"""The job journal: every job is in SQLite (WAL) before its submission is acknowledged.

A job is stored as its whole `photon.v1.Job` message plus the columns needed to find it, and
rewritten at every state change, so a crash or restart loses no acknowledged job. On start the
daemon reads the journal back: queued jobs queue again, a job that was running when the daemon
died is failed with that reason (its device state is unknown, so it is not silently re-run).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from photon.v1 import job_pb2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    submitted_at_unix_s REAL NOT NULL,
    job BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (submitted_at_unix_s);
"""


class Journal:
    """Durable job storage shared by the RPC threads and the device loops."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection behind a lock: writes are a few per job, never on a hot path.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    def save(self, job: job_pb2.Job) -> None:
        """Insert or replace a job; returns once it is on disk."""
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, device_id, state, submitted_at_unix_s, job) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "state = excluded.state, job = excluded.job",
                (
                    job.id,
                    job.device_id,
                    int(job.state),
                    job.submitted_at.ToNanoseconds() / 1e9,
                    job.SerializeToString(),
                ),
            )

    def load_all(self) -> list[job_pb2.Job]:
        """Every journaled job, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job FROM jobs ORDER BY submitted_at_unix_s, rowid"
            ).fetchall()
        jobs = []
        for (blob,) in rows:
            job = job_pb2.Job()
            job.ParseFromString(blob)
            jobs.append(job)
        return jobs

    def close(self) -> None:
        with self._lock:
            self._db.close()
