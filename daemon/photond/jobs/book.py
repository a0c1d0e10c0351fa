"""Jobs in memory and on disk: their messages, event logs and state changes.

Every state change goes through `JobBook`, which journals the new job message and appends a
numbered event that WatchJob streams replay from the start; events are journaled too, so a
job's history replays with the same numbers after a restart.

A submission is the one change that waits for the disk: `submit` journals the job and its first
event, then queues it, then returns, in one call that a cancelled RPC cannot split, so a job
is either acknowledged, journaled and queued, or absent. Its `request_id` (the client's
idempotency key) maps a retried submission to the job the first one made. Every other change
is journaled by the journal's writer thread without the caller waiting: the device loops call
these, and the loop must keep its period.

A job journaled as running when photond stopped is either failed at start-up or resumed (the
setting `running_jobs_on_restart`): `resumption` reads from its events what it had done, and
`restarted` records that it went back on its device, its history going on with the next number.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from photon.v1 import job_pb2
from photond import memory
from photond.disposal import dispose
from photond.jobs.journal import EventLog, Journal, JournaledJob
from photond.metrics import instruments
from photond.planning.graph import CheckedGraph
from photond.planning.plan import Plan, PlannedTask
from photond.tracing import JobTrace
from photond.wakeup import Wakeup
from photond.wire import (
    length_delimited,
    plan_from_proto,
    replanned_event,
    timestamp,
)

# A job's first event: JobEvent.planned, which holds JobPlanned.schedule.
_PLANNED_FIELD = job_pb2.JobEvent.DESCRIPTOR.fields_by_name["planned"].number
_PLANNED_SCHEDULE_FIELD = job_pb2.JobPlanned.DESCRIPTOR.fields_by_name["schedule"].number
_JOB_RESULT_FIELD = job_pb2.Job.DESCRIPTOR.fields_by_name["result"].number
_REPLANNED_FIELD = job_pb2.JobEvent.DESCRIPTOR.fields_by_name["replanned"].number

TERMINAL_STATES = frozenset(
    {job_pb2.JOB_STATE_COMPLETED, job_pb2.JOB_STATE_FAILED, job_pb2.JOB_STATE_CANCELLED}
)


class CancelFlag:
    """Set by CancelJob, read by the device loop at each pass; nothing waits on it, so a bool
    (one assignment under the interpreter lock) does. A `threading.Event` is ten objects (a
    condition, its lock, a deque, bound methods) for each job the retention keeps, made amid
    a burst's objects, where each kept one pins a pymalloc pool (docs/operations.md, Memory).
    """

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


# Slots: no per-record `__dict__`, one object fewer for each of the thousands of retained jobs.
@dataclass(slots=True, weakref_slot=True)
class JobRecord:
    """One job: its wire message (the truth; a job submitted through the planning pool holds
    no graph or schedule tasks, which the journal keeps and `JobBook.answer` reads back), the
    checked graph and plan the runtime uses (until the job finishes)."""

    job: job_pb2.Job
    graph: CheckedGraph | None
    plan: Plan | None
    events: EventLog = field(default_factory=EventLog)
    wakeup: Wakeup = field(default_factory=Wakeup)
    cancel_requested: CancelFlag = field(default_factory=CancelFlag)
    # Digest of the SubmitJobRequest (request_id aside): a retry must ask for the same thing.
    request_digest: str = ""
    # A finished job's message holds no graph or schedule tasks (`JobBook._shed`): readers
    # take them from the journal.
    shed: bool = False
    # Set when the job was running when photond stopped and is queued to resume.
    resumption: Resumption | None = None
    # The job's place in the trace of the call that submitted it (None: not traced, e.g. a
    # job restored from the journal).
    trace: JobTrace | None = None

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def terminal(self) -> bool:
        return self.job.state in TERMINAL_STATES


@dataclass(frozen=True)
class Resumption:
    """What a job running when photond stopped had done, as its journaled events say.

    Attributes:
        elapsed_s: the latest job-relative time its task events name (a start or a finish):
            its job time goes on from here after the restart. The time from then until the
            restart, and the outage itself, are not counted: the device clock restarts with
            photond, so they cannot be measured on it.
        done: the tasks whose finish is journaled, as they ran (job-relative start and end).
        cut_off: the tasks started but not finished: their heaters went off with photond, so
            each runs again from its start.
        plan: the plan the job last followed, every task in it: its schedule, with the new
            times of each re-plan laid over it (as `Execution.swap_plan` did while it ran).
    """

    elapsed_s: float
    done: tuple[PlannedTask, ...]
    cut_off: tuple[str, ...]
    plan: Plan


class RequestConflict(Exception):
    """A submission's request_id names a job that was submitted with a different request."""

    def __init__(self, request_id: str, job_id: str) -> None:
        super().__init__(
            f"request_id {request_id[:64]!r} was used for job {job_id} with a different "
            "request; use a new request_id for a new job"
        )
        self.job_id = job_id


def _without_tasks(job: job_pb2.Job) -> job_pb2.Job:
    """A new message of `job` without the tasks of its graph, schedule and result (its
    `task_count` still says how many)."""
    light = job_pb2.Job()
    for described, value in job.ListFields():
        if described.name == "graph":
            continue
        if described.name in ("schedule", "result"):
            part_of = getattr(light, described.name)
            part_of.SetInParent()
            for part, part_value in value.ListFields():
                if part.name != "tasks":
                    _set(part_of, part, part_value)
            continue
        _set(light, described, value)
    return light


def _set(message: Message, field: FieldDescriptor, value: Any) -> None:
    """Set one singular field (a scalar or a message) of `message` to `value`."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(message, field.name).CopyFrom(value)
    else:
        setattr(message, field.name, value)


def new_job_id() -> str:
    # Sortable by submission time at a glance, unique without coordination.
    return f"job-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


class FollowEnded(Exception):
    """A job's watch was ended before the job's end (`JobBook.end_follows`: the daemon stops)."""


class JobBook:
    """All jobs of the daemon; safe to use from RPC handlers and device loops alike."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._lock = threading.RLock()
        self._records: dict[str, JobRecord] = {}
        # Why every WatchJob stream was ended (`end_follows`); "" while they may go on.
        self._follows_ended = ""
        self._by_request: dict[str, JobRecord] = {}
        # Held across a submission's journal write (the book's lock is not: the device loops
        # take that one), so two submissions of one request_id cannot both be created.
        self._submit_lock = threading.Lock()
        # Told that a job has finished, from the thread that finished it with the book's lock
        # held, so it must return at once: the daemon's retention pass then runs soon, not at
        # its next interval (rpc.server).
        self.on_finished: Callable[[], None] | None = None

    # -- retention ----------------------------------------------------------------------------

    def prune(self, keep: int, max_age_s: float, now_wall_s: float) -> list[str]:
        """Forget finished jobs (completed, failed, cancelled) beyond the newest `keep`, or that
        finished more than `max_age_s` ago; returns their ids. Queued and running jobs are
        never forgotten. A forgotten job's request_id no longer finds it: a retry that late
        makes a new job.
        """
        # Chosen outside the lock, which the device loops take for every event: only the
        # copy of the list and the removals hold it. A finished job does not change.
        with self._lock:
            records = list(self._records.values())
        finished = sorted(
            (r for r in records if r.terminal),
            key=lambda r: r.job.finished_at.ToNanoseconds(),
            reverse=True,
        )
        cutoff_ns = int((now_wall_s - max_age_s) * 1e9)
        gone = [
            r
            for k, r in enumerate(finished)
            if k >= keep or r.job.finished_at.ToNanoseconds() < cutoff_ns
        ]
        with self._lock:
            for record in gone:
                del self._records[record.id]
                if self._by_request.get(record.job.request_id) is record:
                    del self._by_request[record.job.request_id]
                self._journal.forget(record.id)
        return [r.id for r in gone]

    # -- lookup -------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._records.get(job_id)

    def submitted(self, request_id: str, request_digest: str) -> JobRecord | None:
        """The job a submission with this idempotency key made, if any ("" names none).

        Raises:
            RequestConflict: the key was used with a different request.
        """
        if not request_id:
            return None
        with self._lock:
            record = self._by_request.get(request_id)
        if record is not None and record.request_digest != request_digest:
            raise RequestConflict(request_id, record.id)
        return record

    def submitted_any(self, request_id: str) -> bool:
        """Whether some journaled job was submitted with this idempotency key."""
        with self._lock:
            return bool(request_id) and request_id in self._by_request

    def snapshot(self, record: JobRecord) -> job_pb2.Job:
        """A copy of the job message that later changes cannot tear, whole (`answer`, parsed)."""
        return job_pb2.Job.FromString(self.answer(record))

    def answer(self, record: JobRecord) -> bytes:
        """The whole job message, serialized, as it stands: what GetJob and CancelJob answer.

        Built without parsing, copying or serialising its graph and schedule tasks: for a 100k-
        task job each of those is one call of 20-90 ms that holds the interpreter, and so the
        device loop (a CancelJob held it 93 ms). Those tasks never change after submission, so
        they are the journal's bytes of the submission (read outside the book's lock, which
        the device loops take for every event); after them come the job's fields as they are
        now, without tasks, which a parser merges over the first (no field goes back to its
        default), then its result's. Call it off the event loop: it reads the disk.
        """
        with self._lock:
            light = _without_tasks(record.job)
            # Set once, when the job ends, and never changed after: serialised outside the lock.
            result = record.job.result if record.job.HasField("result") else None
        light.ClearField("result")
        parts = [light.SerializeToString()]
        if result is not None:
            parts.append(length_delimited(_JOB_RESULT_FIELD, result.SerializeToString()))
        submitted = self._journal.submitted_blob(record.id)  # None: forgotten meanwhile
        return b"".join([submitted or b"", *parts])

    def summary(self, record: JobRecord) -> bytes:
        """The job as `list` shows it, serialized: without the tasks of its graph, schedule and
        result (JOB_VIEW_BASIC). A few hundred bytes for a job of any size, built from the
        book's own message: no disk, and nothing the size of the graph for gRPC to copy."""
        with self._lock:
            return _without_tasks(record.job).SerializeToString()

    def list(self, device_id: str, limit: int) -> list[job_pb2.Job]:
        """The newest `limit` jobs (of one device, or every device for ""), each without the
        tasks of its graph, schedule and result: whole, two 100k-task jobs would outgrow the
        message limit, and every later listing with them."""
        with self._lock:
            records = [
                r for r in self._records.values() if not device_id or r.job.device_id == device_id
            ]
            records.sort(key=lambda r: r.job.submitted_at.ToNanoseconds(), reverse=True)
            return [_without_tasks(r.job) for r in records[:limit]]

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

    def submit(
        self,
        record: JobRecord,
        device_time_s: float,
        enqueue: Callable[[JobRecord], None] | None = None,
        blob: bytes | None = None,
        schedule_blob: bytes | None = None,
    ) -> JobRecord:
        """Journal a new job and its first event, wait until they are on disk, then `enqueue`
        it; returns the job that stands (an earlier one when its request_id was submitted
        already). Runs to the end once begun: call it from a worker thread, not the event loop.
        Without `enqueue` the caller runs the job itself (tests and benchmarks do). `blob`, when
        given, is the job's message already serialised (by the planning pool), stored as is;
        `schedule_blob` likewise its schedule, which the first event (`planned`) carries.

        Raises:
            RequestConflict: the request_id was used with a different request.
        """
        with self._submit_lock:
            earlier = self.submitted(record.job.request_id, record.request_digest)
            if earlier is not None:
                return earlier
            record.job.state = job_pb2.JOB_STATE_QUEUED
            if schedule_blob is None:
                schedule_blob = record.job.schedule.SerializeToString()
            # Assembled from the schedule's bytes: a message copy of a 100k-task schedule
            # holds the interpreter (and the device loop) for ~20 ms.
            header = self._new_event(record, device_time_s)
            first_blob = b"".join(  # joined, not added: see `length_delimited`
                (
                    header.SerializeToString(),
                    length_delimited(
                        _PLANNED_FIELD, length_delimited(_PLANNED_SCHEDULE_FIELD, schedule_blob)
                    ),
                )
            )
            self._journal.save(record.job, record.request_digest, blob)
            # Written in order: once the event is on disk, so is the job.
            self._journal.append_event(record.id, header.sequence, first_blob).result()
            with self._lock:
                self._records[record.id] = record
                if record.job.request_id:
                    self._by_request[record.job.request_id] = record
                record.events.append(first_blob)
            if enqueue is not None:
                enqueue(record)
            instruments.jobs_submitted.add(1, {"device": record.job.device_id})
            return record

    def restore(self, journaled: JournaledJob) -> JobRecord:
        """Take a journaled job back after a restart, with its history; the caller decides
        whether it runs."""
        job = journaled.job
        if not job.task_count:  # journaled before jobs counted their tasks
            job.task_count = len(job.graph.tasks)
        record = JobRecord(job=job, graph=None, plan=None, request_digest=journaled.request_digest)
        record.events.extend(journaled.events.raw_since(0))
        # Its history is on disk (read from there when asked for), unless made up below.
        last: Future[None] = Future()
        last.set_result(None)
        with self._lock:
            self._records[record.id] = record
            if job.request_id:
                self._by_request[job.request_id] = record
            if not record.events:
                # Journaled before events were (or its first event lost with a failed disk):
                # the history starts from the schedule the job holds.
                last = self._event(record, 0.0, planned=job_pb2.JobPlanned(schedule=job.schedule))
            if record.terminal:
                self._shed(record)
        if record.terminal:
            self._spill_once_written(record, last)
        return record

    def resumption(self, record: JobRecord) -> Resumption:
        """What a job journaled as running had done when photond stopped (see `Resumption`)."""
        with self._lock:
            events = list(record.events)
            schedule = record.job.schedule
        followed = plan_from_proto(schedule)
        planned = {p.task_id: p for p in followed.tasks}
        started: dict[str, float] = {}
        done: dict[str, PlannedTask] = {}
        elapsed_s = 0.0
        for event in events:
            kind = event.WhichOneof("kind")
            if kind == "replanned":
                planned.update(
                    (p.task_id, p) for p in plan_from_proto(event.replanned.schedule).tasks
                )
            elif kind == "task_started":
                begun = event.task_started
                started[begun.task_id] = begun.start_s  # the latest run counts (holds re-run)
                elapsed_s = max(elapsed_s, begun.start_s)
            elif kind == "task_finished":
                ended = event.task_finished
                start_s = started.get(ended.task_id, ended.end_s)
                done[ended.task_id] = PlannedTask(
                    ended.task_id, ended.lane_id, start_s, ended.end_s
                )
                elapsed_s = max(elapsed_s, ended.end_s)
        return Resumption(
            elapsed_s=elapsed_s,
            done=tuple(done.values()),
            cut_off=tuple(t for t in started if t not in done),
            plan=replace(followed, tasks=tuple(planned.values())),
        )

    def start(self, record: JobRecord, device_time_s: float) -> None:
        with self._lock:
            record.job.state = job_pb2.JOB_STATE_RUNNING
            record.job.started_at.CopyFrom(timestamp(time.time()))
            record.job.device_start_time_s = device_time_s
            self._journal.save_state(record.job)  # not waited for: see the module docstring
            self._event(record, device_time_s, job_started=job_pb2.JobStarted())
        if record.trace is not None:
            record.trace.started(
                {"photond.job_id": record.id, "photond.device_id": record.job.device_id}
            )

    def restarted(
        self, record: JobRecord, device_time_s: float, device_start_time_s: float
    ) -> None:
        """Record that a job running when photond stopped is back on its device after the
        restart (`record.resumption`), its unfinished tasks re-planned: a `resumed` event
        naming what was done and what runs again. `device_start_time_s` puts its job time on
        this daemon's device clock, going on from `resumption.elapsed_s`; events journaled
        before the restart keep the device times of the clock they were taken on."""
        resumption = record.resumption
        assert resumption is not None, "only a job queued to resume is restarted"
        done = len(resumption.done)
        rerun = len(record.job.graph.tasks) - done
        cut_off = len(resumption.cut_off)
        resumed = job_pb2.JobResumed(
            reason=(
                f"photond restarted while the job ran; resumed from the device's state: {done} "
                f"task(s) that had finished stay done, {rerun} run now ({cut_off} of them cut "
                "off mid-run by the restart, run again from their start)"
            ),
            after_restart=True,
            tasks_done=done,
            tasks_rerun=rerun,
            tasks_cut_off=cut_off,
        )
        with self._lock:
            record.job.device_start_time_s = device_start_time_s
            self._journal.save_state(record.job)  # not waited for: see the module docstring
            self._event(record, device_time_s, resumed=resumed)

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
            last = self._event(record, device_time_s, completed=job_pb2.JobCompleted(result=result))
        self._spill_once_written(record, last)

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
            last = self._event(record, device_time_s, failed=job_pb2.JobFailed(reason=reason))
        self._spill_once_written(record, last)

    def cancel(
        self, record: JobRecord, device_time_s: float, result: job_pb2.JobResult | None = None
    ) -> None:
        with self._lock:
            if record.terminal:
                return
            self._finish(record, device_time_s, job_pb2.JOB_STATE_CANCELLED, result)
            last = self._event(record, device_time_s, cancelled=job_pb2.JobCancelled())
        self._spill_once_written(record, last)

    # -- the closed loop's events: numbered with the rest, no journaled state changes ------
    # A re-plan moves tasks not yet started and a hold pauses dispatch; what must survive a
    # restart (the job, its result) is written by the state changes above.

    def replanned(
        self,
        record: JobRecord,
        device_time_s: float,
        reason: str,
        plan: Plan,
        prepared: bytes | None = None,
    ) -> None:
        """Record that the tasks not yet started now follow `plan` (job-relative times).
        `prepared`: `wire.replanned_event(reason, plan)` built off the device loop's thread (a
        large plan's event is tenths of a second to build); else it is built here."""
        body = prepared if prepared is not None else replanned_event(reason, plan)
        with self._lock:
            self._event(record, device_time_s, tail=length_delimited(_REPLANNED_FIELD, body))

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
        # The runtime's inputs, tens of MB for a large job: nothing runs from them any more,
        # and the journal keeps the graph and schedule for readers. Kept, every finished job
        # the retention holds would keep them too. Their tasks are freed on the disposer thread
        # a chunk at a time: freed here, under the book's lock, a 100k-task job's held the
        # interpreter (and so the device loop) ~30 ms (photond.disposal).
        dispose(*(part.tasks for part in (record.graph, record.plan) if part is not None))
        record.graph = None
        record.plan = None
        record.resumption = None
        # Shed first, then set the result once on the light message: this runs on the device
        # loop's thread, where each copy of a 100k-task result holds the interpreter.
        self._shed(record)
        record.job.state = state  # type: ignore[assignment]
        record.job.finished_at.CopyFrom(timestamp(time.time()))
        if record.job.HasField("started_at"):
            record.job.device_end_time_s = device_time_s
        if result is not None:
            record.job.result.CopyFrom(result)
        self._journal.save_state(record.job)
        name = job_pb2.JobState.Name(record.job.state)
        instruments.jobs_finished.add(
            1, {"device": record.job.device_id, "state": name.removeprefix("JOB_STATE_").lower()}
        )
        if record.trace is not None:
            record.trace.finished(name, record.job.failure_reason)
            # Its spans have ended. Kept, its context would hold the SubmitJob call's span (its
            # attributes, events, lock) for as long as the job is retained: objects made amid a
            # burst's mass that pin its pymalloc arenas (docs/operations.md, Memory).
            record.trace = None
        # The job's graph, plan and messages are being let go: give their pages back to the OS
        # (a thread does it, in a second; this returns at once: photond.memory).
        memory.trim_soon()
        if self.on_finished is not None:
            self.on_finished()

    @staticmethod
    def _shed(record: JobRecord) -> None:
        """Let go of a finished job's graph and schedule tasks: the journal holds them as
        submitted, and nothing changes them (re-plans are events). A 20k-task job's message
        is some 10 MB, and the retention keeps thousands of finished jobs.

        A new message, not cleared fields: a message's parts live in an arena that clearing
        does not give back.
        """
        light = _without_tasks(record.job)
        # Its result's tasks stay in memory: the journal's row of the submission, which
        # `snapshot` reads back, has none. (A job restored finished has one; a job finishing
        # has none yet, so this copies nothing then.)
        if record.job.HasField("result"):
            light.result.CopyFrom(record.job.result)
        record.job = light
        record.shed = True

    def _event(
        self, record: JobRecord, device_time_s: float, tail: bytes = b"", **kind: object
    ) -> Future[None]:
        """Number, journal and publish an event; `tail`: serialized fields appended to it (a
        kind built and serialized elsewhere, `replanned`). Returns the journal's write."""
        event = self._new_event(record, device_time_s, **kind)
        blob = event.SerializeToString() + tail
        written = self._journal.append_event(record.id, event.sequence, blob)
        record.events.append(blob)
        record.wakeup.notify()
        return written

    def _spill_once_written(self, record: JobRecord, last: Future[None]) -> None:
        """Let a finished job's events go from memory once its last one is on disk, where
        WatchJob reads them from then on (`EventLog.spill`). The journal's writer thread calls
        back, in milliseconds: the device loop does not wait for the disk."""

        def spill(written: Future[None]) -> None:
            if written.exception() is None:  # else they stay: the disk did not take them
                with self._lock:
                    let_go = record.events.spill(
                        functools.partial(self._journal.events_since, record.id)
                    )
                # Freed a chunk at a time on the disposer thread: here, 200k events (a 100k-task
                # job's) held the interpreter 5 ms (11 ms on glibc's malloc).
                dispose(let_go)
                del let_go
                memory.trim_soon()

        last.add_done_callback(spill)

    @staticmethod
    def _new_event(record: JobRecord, device_time_s: float, **kind: object) -> job_pb2.JobEvent:
        return job_pb2.JobEvent(
            job_id=record.id,
            sequence=len(record.events) + 1,
            device_time_s=device_time_s,
            time=timestamp(time.time()),
            **kind,  # type: ignore[arg-type]
        )

    # -- watching ------------------------------------------------------------------------------

    async def follow(self, record: JobRecord) -> AsyncIterator[bytes]:
        """Every event of the job from the first, then live ones, until its terminal event;
        serialized, as WatchJob sends them."""
        event = record.wakeup.register()
        sent = 0
        try:
            while True:
                with self._lock:
                    spilled = record.events.spilled
                    fresh = [] if spilled else record.events.raw_since(sent)
                    ended = record.terminal
                    count = len(record.events)
                if spilled:
                    # A finished job's events, on disk (`_spill_once_written`): read off the
                    # event loop and outside the book's lock.
                    fresh = await asyncio.to_thread(record.events.raw_since, sent)
                    if not fresh and sent < count:
                        return  # forgotten meanwhile (retention): its events went with it
                for item in fresh:
                    yield item
                sent += len(fresh)
                if ended and sent == count:
                    return
                if self._follows_ended:
                    raise FollowEnded(self._follows_ended)
                await event.wait()
                event.clear()
        finally:
            record.wakeup.unregister(event)

    def end_follows(self, reason: str) -> None:
        """End every `follow` now, and any started later, with FollowEnded(`reason`): the
        daemon stops, and a queued job's watch would otherwise hold the server's grace for
        calls in flight. A job's events already journaled are sent first."""
        with self._lock:
            self._follows_ended = reason
            records = list(self._records.values())
        for record in records:
            record.wakeup.notify()

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
