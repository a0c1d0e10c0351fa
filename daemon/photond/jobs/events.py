"""The closed loop's job events: re-planned, held, resumed.

They go through the same numbered event log as every other job event (`JobBook._event`, under
the book's lock), so WatchJob streams them in order with task events. They change no journaled
state: a re-plan moves tasks not yet started, a hold pauses dispatch; what must survive a
restart (the job, its result) is written by the state changes in `jobs`.
"""

from __future__ import annotations

from photon.v1 import job_pb2
from photond.jobs.book import JobBook, JobRecord, plan_to_proto
from photond.planning.plan import Plan


def replanned(
    book: JobBook, record: JobRecord, device_time_s: float, reason: str, plan: Plan
) -> None:
    """Record that the tasks not yet started now follow `plan` (job-relative times)."""
    event = job_pb2.JobReplanned(
        reason=reason,
        schedule=plan_to_proto(plan),
        predicted_peak_temperature_c=plan.predicted_peak_temperature_c,
    )
    with book._lock:
        book._event(record, device_time_s, replanned=event)


def held(book: JobBook, record: JobRecord, device_time_s: float, reason: str) -> None:
    """Record that dispatch stopped for `reason` (interlock or emergency stop)."""
    with book._lock:
        book._event(record, device_time_s, held=job_pb2.JobHeld(reason=reason))


def resumed(book: JobBook, record: JobRecord, device_time_s: float, reason: str) -> None:
    """Record that dispatch resumed after a hold."""
    with book._lock:
        book._event(record, device_time_s, resumed=job_pb2.JobResumed(reason=reason))
