"""Jobs in memory and on disk: their messages, event logs and state changes.

Every state change goes through `JobBook`, which rewrites the journal entry before anyone can
observe the new state, and appends a numbered event that WatchJob streams replay from the
start. Events live in memory; the journal holds what must survive a restart (the job, its plan
and its result).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from photon.v1 import job_pb2
from photond.jobs.journal import Journal
from photond.planning.graph import CheckedGraph
from photond.planning.plan import Plan
from photond.wakeup import Wakeup
from photond.wire import plan_to_proto, timestamp

TERMINAL_STATES = frozenset(
    {job_pb2.JOB_STATE_COMPLETED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_CANCELLED}
)


@dataclass
class JobRecord:
    """One job: its wire message (the truth), the checked graph and plan the runtime uses."""

    job: job_pb2.Job
    graph: CheckedGraph | None
    plan: Plan | None
    events: list[job_pb2.JobEvent] = field(default_factory=list)
    wakeup: Wakeup = field(default_factory=Wakeup)
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def terminal(self) -> bool:
        return self.job.state in TERMINAL_STATES


def new_job_id() -> str:
    # Sortable by submission time at a glance, unique without coordination.
    return f"job-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


class JobBook:
    """All jobs of the daemon; safe to use from RPC handlers and device loops alike."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._lock = threading.RLock()
        self._records: dict[str, JobRecord] = {}

    # -- lookup -------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._records.get(job_id)

    def snapshot(self, record: JobRecord) -> job_pb2.Job:
        """A copy of the job message that later changes cannot tear."""
        with self._lock:
            copy = job_pb2.Job()
            copy.CopyFrom(record.job)
            return copy

    def list(self, device_id: str, limit: int) -> list[job_pb2.Job]:
        with self._lock:
            records = [
                r for r in self._records.values() if not device_id or r.job.device_id == device_id
            ]
            records.sort(key=lambda r: r.job.submitted_at.ToNanoseconds(), reverse=True)
            return [self.snapshot(r) for r in records[:limit]]

    def stats(self, device_id: str) -> job_pb2.JobStats:
        """Counts over the journaled jobs of one device ("" for every device).

        Folded over the job messages rather than kept as counters: the book holds exactly what
        the journal holds (every job is read back at start and every change is saved before it
        is visible), so the counts and the planning time survive a restart. Planning time is
        that of each job's stored schedule; the closed loop's re-plans are not journaled.
        """
        stats = job_pb2.JobStats()
        with self._lock:
            for record in self._records.values():
                job = record.job
                if device_id and job.device_id != device_id:
                    continue
                stats.submitted += 1
                if job.state == job_pb2.JOB_STATE_COMPLETED:
                    stats.completed += 1
                elif job.state == job_pb2.JOB_STATE_FAILED:
                    stats.failed += 1
                elif job.state == job_pb2.JOB_STATE_CANCELLED:
                    stats.cancelled += 1
                stats.planning_time_total_s += job.schedule.planning_time_s
        return stats

    # -- state changes (each journaled before it is visible) ------------------------------------

    def submit(self, record: JobRecord, device_time_s: float) -> None:
        with self._lock:
            record.job.state = job_pb2.JOB_STATE_QUEUED
            self._journal.save(record.job)
            self._records[record.id] = record
            self._event(
                record, device_time_s, planned=job_pb2.JobPlanned(schedule=record.job.schedule)
            )

    def restore(self, job: job_pb2.Job) -> JobRecord:
        """Take a journaled job back after a restart; the caller decides whether it runs."""
        record = JobRecord(job=job, graph=None, plan=None)
        with self._lock:
            self._records[record.id] = record
            self._event(record, 0.0, planned=job_pb2.JobPlanned(schedule=job.schedule))
        return record

    def start(self, record: JobRecord, device_time_s: float) -> None:
        with self._lock:
            record.job.state = job_pb2.JOB_STATE_RUNNING
            record.job.started_at.CopyFrom(timestamp(time.time()))
            record.job.device_start_time_s = device_time_s
            self._journal.save(record.job)
            self._event(record, device_time_s, job_started=job_pb2.JobStarted())

    def task_started(
        self, record: JobRecord, device_time_s: float, task_id: str, lane_id: str
    ) -> None:
        start_s = device_time_s - record.job.device_start_time_s
        with self._lock:
            self._event(
                record,
                device_time_s,
                task_started=job_pb2.TaskStarted(task_id=task_id, lane_id=lane_id, start_s=start_s),
            )

    def task_finished(
        self, record: JobRecord, device_time_s: float, task_id: str, lane_id: str
    ) -> None:
        end_s = device_time_s - record.job.device_start_time_s
        with self._lock:
            self._event(
                record,
                device_time_s,
                task_finished=job_pb2.TaskFinished(task_id=task_id, lane_id=lane_id, end_s=end_s),
            )

    def complete(self, record: JobRecord, device_time_s: float, result: job_pb2.JobResult) -> None:
        with self._lock:
            self._finish(record, device_time_s, job_pb2.JOB_STATE_COMPLETED, result)
            self._event(record, device_time_s, completed=job_pb2.JobCompleted(result=result))

    def fail(
        self,
        record: JobRecord,
        device_time_s: float,
        reason: str,
        result: job_pb2.JobResult | None = None,
    ) -> None:
        with self._lock:
            if record.terminal:
                return
            record.job.failure_reason = reason
            self._finish(record, device_time_s, job_pb2.JOB_STATE_FAILED, result)
            self._event(record, device_time_s, failed=job_pb2.JobFailed(reason=reason))

    def cancel(
        self, record: JobRecord, device_time_s: float, result: job_pb2.JobResult | None = None
    ) -> None:
        with self._lock:
            if record.terminal:
                return
            self._finish(record, device_time_s, job_pb2.JOB_STATE_CANCELLED, result)
            self._event(record, device_time_s, cancelled=job_pb2.JobCancelled())

    # -- the closed loop's events: numbered with the rest, no journaled state changes ------
    # A re-plan moves tasks not yet started and a hold pauses dispatch; what must survive a
    # restart (the job, its result) is written by the state changes above.

    def replanned(self, record: JobRecord, device_time_s: float, reason: str, plan: Plan) -> None:
        """Record that the tasks not yet started now follow `plan` (job-relative times)."""
        event = job_pb2.JobReplanned(
            reason=reason,
            schedule=plan_to_proto(plan),
            predicted_peak_temperature_c=plan.predicted_peak_temperature_c,
        )
        with self._lock:
            self._event(record, device_time_s, replanned=event)

    def held(self, record: JobRecord, device_time_s: float, reason: str) -> None:
        """Record that dispatch stopped for `reason` (interlock or emergency stop)."""
        with self._lock:
            self._event(record, device_time_s, held=job_pb2.JobHeld(reason=reason))

    def resumed(self, record: JobRecord, device_time_s: float, reason: str) -> None:
        """Record that dispatch resumed after a hold."""
        with self._lock:
            self._event(record, device_time_s, resumed=job_pb2.JobResumed(reason=reason))

    def _finish(
        self, record: JobRecord, device_time_s: float, state: int, result: job_pb2.JobResult | None
    ) -> None:
        record.job.state = state  # type: ignore[assignment]
        record.job.finished_at.CopyFrom(timestamp(time.time()))
        if record.job.HasField("started_at"):
            record.job.device_end_time_s = device_time_s
        if result is not None:
            record.job.result.CopyFrom(result)
        self._journal.save(record.job)

    def _event(self, record: JobRecord, device_time_s: float, **kind: object) -> None:
        event = job_pb2.JobEvent(
            job_id=record.id,
            sequence=len(record.events) + 1,
            device_time_s=device_time_s,
            time=timestamp(time.time()),
            **kind,  # type: ignore[arg-type]
        )
        record.events.append(event)
        record.wakeup.notify()

    # -- watching ------------------------------------------------------------------------------

    async def follow(self, record: JobRecord) -> AsyncIterator[job_pb2.JobEvent]:
        """Every event of the job from the first, then live ones, until its terminal event."""
        event = record.wakeup.register()
        sent = 0
        try:
            while True:
                with self._lock:
                    fresh = record.events[sent:]
                    ended = record.terminal
                for item in fresh:
                    yield item
                sent += len(fresh)
                if ended and sent == len(record.events):
                    return
                await event.wait()
                event.clear()
        finally:
            record.wakeup.unregister(event)

    async def wait_terminal(self, record: JobRecord, timeout_s: float) -> bool:
        event = record.wakeup.register()
        try:
            async with asyncio.timeout(timeout_s):
                while not record.terminal:
                    await event.wait()
                    event.clear()
            return True
        except TimeoutError:
            return False
        finally:
            record.wakeup.unregister(event)
