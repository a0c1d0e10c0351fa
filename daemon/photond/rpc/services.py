"""The photon.v1 services: thin translations between the wire and the daemon's parts.

Handlers check every field they use, hand the work to the job book, the planner or a device
runtime, and turn `RequestError`s into statuses with field details. Anything unexpected is
logged and answered with INTERNAL: no request can take the daemon down.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from photon.v1 import (
    device_pb2,
    device_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    telemetry_pb2,
    telemetry_pb2_grpc,
)
from photond.jobs.book import JobBook, JobRecord, RequestConflict, new_job_id
from photond.planning.graph import CheckedGraph
from photond.planning.plan import DEFAULT_MARGIN_C, Plan
from photond.rpc.devices import DeviceTable, ManagedDevice
from photond.rpc.handlers import Undecodable, note_undecodable
from photond.rpc.plan_policy import check_plan
from photond.rpc.status import (
    RequestError,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
    quoted,
    to_grpc_status,
    unavailable,
    unimplemented,
)
from photond.rpc.validation import check_graph
from photond.tracing import tracer
from photond.wire import frame_to_proto, plan_to_proto, request_digest

log = logging.getLogger("photond.rpc")

DEFAULT_SAMPLE_INTERVAL_S = 0.1
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000
CANCEL_WAIT_S = 10.0
MAX_REQUEST_ID_CHARS = 128
# A job's name is shown in listings: a few lines at most (two 2.5 MB names once made ListJobs
# exceed the message limit for every client).
MAX_NAME_CHARS = 1024

Request = TypeVar("Request")
Response = TypeVar("Response")


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: RequestError) -> None:
    status = to_grpc_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)


def _refuse_undecodable(method: str, request: object) -> None:
    if isinstance(request, Undecodable):
        note_undecodable(method, request)
        raise invalid_argument(
            "request",
            f"the {request.size_bytes}-byte body does not decode as {request.type_name} "
            f"({request.error})",
        )


def unary(
    handler: Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[Response]],
) -> Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[Response]]:
    """Answer RequestErrors with their status and anything else with a logged INTERNAL."""

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Request, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Response:
        try:
            _refuse_undecodable(handler.__name__, request)
            return await handler(self, request, context)
        except RequestError as error:
            await _abort(context, error)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            log.exception("unexpected error in %s", handler.__name__)
            await context.abort(
                grpc.StatusCode.INTERNAL, f"{handler.__name__} failed; see the daemon's log"
            )
        raise AssertionError("unreachable: abort raises")

    return wrapper


def streaming(
    handler: Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Response]],
) -> Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Response]]:
    """The streaming twin of `unary`."""

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Request, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Response]:
        try:
            _refuse_undecodable(handler.__name__, request)
            async for item in handler(self, request, context):
                yield item
        except RequestError as error:
            await _abort(context, error)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            log.exception("unexpected error in %s", handler.__name__)
            await context.abort(
                grpc.StatusCode.INTERNAL, f"{handler.__name__} failed; see the daemon's log"
            )

    return wrapper


class DeviceService(device_pb2_grpc.DeviceServiceServicer):
    def __init__(self, devices: DeviceTable) -> None:
        self._devices = devices

    @unary
    async def ListDevices(
        self, request: device_pb2.ListDevicesRequest, context: Any
    ) -> device_pb2.ListDevicesResponse:
        return device_pb2.ListDevicesResponse(devices=[d.describe() for d in self._devices])

    @unary
    async def GetDevice(
        self, request: device_pb2.GetDeviceRequest, context: Any
    ) -> device_pb2.Device:
        return self._devices.get(request.device_id).describe()

    @unary
    async def GetDeviceState(
        self, request: device_pb2.GetDeviceStateRequest, context: Any
    ) -> device_pb2.DeviceState:
        return self._devices.get(request.device_id).state()

    @unary
    async def UpdateLimits(
        self, request: device_pb2.UpdateLimitsRequest, context: Any
    ) -> device_pb2.Limits:
        raise unimplemented(
            "UpdateLimits is not implemented yet: limits come from the device profile"
        )

    @unary
    async def EmergencyStop(
        self, request: device_pb2.EmergencyStopRequest, context: Any
    ) -> device_pb2.DeviceState:
        device = self._devices.get(request.device_id)
        device.runtime.emergency_stop(request.reason or "emergency stop requested by a client")
        return device.state()

    @unary
    async def Resume(
        self, request: device_pb2.ResumeRequest, context: Any
    ) -> device_pb2.DeviceState:
        device = self._devices.get(request.device_id)
        device.runtime.resume()
        return device.state()


class JobService(job_pb2_grpc.JobServiceServicer):
    def __init__(
        self,
        devices: DeviceTable,
        book: JobBook,
        max_tasks_per_job: int,
        *,
        planning_margin_c: float = DEFAULT_MARGIN_C,
    ) -> None:
        self._devices = devices
        self._book = book
        self._max_tasks = max_tasks_per_job
        # Plans peak this far below max temperature (the closed loop's margin: see control).
        self._planning_margin_c = planning_margin_c
        self.accepting = True

    async def _checked_plan(
        self,
        device: ManagedDevice,
        graph: job_pb2.TaskGraph,
        level: int,
        validation: int = job_pb2.VALIDATION_LEVEL_STRICT,
    ) -> tuple[CheckedGraph, Plan]:
        if level not in job_pb2.OptimizationLevel.values():
            raise invalid_argument("optimization_level", f"unknown optimization level {level}")
        profile = device.profile

        def work() -> tuple[CheckedGraph, Plan]:
            with tracer.start_as_current_span(
                "photond.plan",
                attributes={"photond.device_id": device.id, "photond.tasks": len(graph.tasks)},
            ) as span:
                checked = check_graph(graph, profile, self._max_tasks)
                plan = check_plan(
                    checked,
                    profile,
                    level,
                    validation,
                    margin_c=self._planning_margin_c,
                    period_s=device.runtime.period_s,
                )
                span.set_attribute("photond.makespan_s", plan.makespan_s)
                span.set_attribute("photond.planning.plan", plan.planner)
                return checked, plan

        # Off the event loop: a large graph must not delay telemetry or other clients.
        checked, plan = await asyncio.to_thread(work)
        missed = plan.missed_deadlines(checked)
        if missed:
            task_id, end_s, deadline_s = missed[0]
            index = next(i for i, t in enumerate(graph.tasks) if t.id == task_id)
            raise RequestError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"graph.tasks[{index}].deadline_s: task {quoted(task_id)} cannot finish before its "
                f"deadline {deadline_s:g} s (earliest planned end {end_s:g} s)",
                f"graph.tasks[{index}].deadline_s",
            )
        return checked, plan

    @unary
    async def SubmitJob(self, request: job_pb2.SubmitJobRequest, context: Any) -> job_pb2.Job:
        if not self.accepting:
            raise unavailable("photond is shutting down and accepts no new jobs")
        _check_request_id(request.request_id)
        if len(request.name) > MAX_NAME_CHARS:
            raise invalid_argument(
                "name", f"at most {MAX_NAME_CHARS} characters, got {len(request.name)}"
            )
        digest = request_digest(request)
        # A retry of a submission that was journaled: answer with that job, without planning.
        earlier = self._submitted(request.request_id, digest)
        if earlier is not None:
            return self._book.snapshot(earlier)
        device = self._devices.for_request(request.device_id)
        if request.validation_level not in job_pb2.ValidationLevel.values():
            raise invalid_argument(
                "validation_level", f"unknown validation level {request.validation_level}"
            )
        checked, plan = await self._checked_plan(
            device, request.graph, request.optimization_level, request.validation_level
        )
        job = job_pb2.Job(
            id=new_job_id(),
            name=request.name,
            device_id=device.id,
            graph=request.graph,
            schedule=plan_to_proto(plan),
            request_id=request.request_id,
        )
        job.submitted_at.FromNanoseconds(time.time_ns())
        record = JobRecord(job=job, graph=checked, plan=plan, request_digest=digest)
        remaining_s = context.time_remaining()
        if context.cancelled() or (remaining_s is not None and remaining_s <= 0):
            # The client has gone (deadline or cancel): create nothing it was not told about.
            raise RequestError(grpc.StatusCode.CANCELLED, "the call ended before the job was made")
        # Journal, queue and answer: one call in a worker thread, which completes even if this
        # handler is cancelled meanwhile (the job is then journaled and queued, and a retry
        # with the same request_id finds it).
        try:
            stood = await asyncio.to_thread(
                self._book.submit,
                record,
                device.runtime.driver.clock.now_s(),
                device.runtime.enqueue,
            )
        except RequestConflict as conflict:
            raise already_exists("request_id", str(conflict)) from None
        if stood is record:
            log.info(
                "job submitted",
                extra={"job": job.id, "device": device.id, "tasks": len(checked.tasks)},
            )
        return self._book.snapshot(stood)

    def _submitted(self, request_id: str, digest: str) -> JobRecord | None:
        try:
            return self._book.submitted(request_id, digest)
        except RequestConflict as conflict:
            raise already_exists("request_id", str(conflict)) from None

    def _record(self, job_id: str) -> JobRecord:
        if not job_id:
            raise invalid_argument("job_id", "must not be empty")
        record = self._book.get(job_id)
        if record is None:
            raise not_found("job_id", f"no job {quoted(job_id)}")
        return record

    @unary
    async def GetJob(self, request: job_pb2.GetJobRequest, context: Any) -> job_pb2.Job:
        return self._book.snapshot(self._record(request.job_id))

    @streaming
    async def WatchJob(
        self, request: job_pb2.WatchJobRequest, context: Any
    ) -> AsyncIterator[job_pb2.JobEvent]:
        async for event in self._book.follow(self._record(request.job_id)):
            yield event

    @unary
    async def CancelJob(self, request: job_pb2.CancelJobRequest, context: Any) -> job_pb2.Job:
        record = self._record(request.job_id)
        if record.terminal:
            state = job_pb2.JobState.Name(record.job.state)
            raise failed_precondition(f"job {record.id} has already ended ({state})")
        device = self._devices.get(record.job.device_id)
        device.runtime.cancel(record)
        await self._book.wait_terminal(record, CANCEL_WAIT_S)
        return self._book.snapshot(record)

    @unary
    async def ListJobs(
        self, request: job_pb2.ListJobsRequest, context: Any
    ) -> job_pb2.ListJobsResponse:
        if request.device_id:
            self._devices.for_request(request.device_id)
        if request.limit > MAX_LIST_LIMIT:
            raise invalid_argument("limit", f"at most {MAX_LIST_LIMIT}, got {request.limit}")
        limit = request.limit or DEFAULT_LIST_LIMIT
        return job_pb2.ListJobsResponse(jobs=self._book.list(request.device_id, limit))

    @unary
    async def PlanJob(self, request: job_pb2.PlanJobRequest, context: Any) -> job_pb2.Schedule:
        device = self._devices.for_request(request.device_id)
        _, plan = await self._checked_plan(device, request.graph, request.optimization_level)
        return plan_to_proto(plan)

    @unary
    async def GetJobStats(
        self, request: job_pb2.GetJobStatsRequest, context: Any
    ) -> job_pb2.JobStats:
        # Unknown devices are refused the way ListJobs refuses them; "" means every device.
        if request.device_id:
            self._devices.for_request(request.device_id)
        return self._book.stats(request.device_id)


def _check_request_id(request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID_CHARS:
        raise invalid_argument(
            "request_id", f"at most {MAX_REQUEST_ID_CHARS} characters, got {len(request_id)}"
        )
    if not all(" " < c <= "~" for c in request_id):
        raise invalid_argument("request_id", "printable ASCII without spaces only (a UUID fits)")


class TelemetryService(telemetry_pb2_grpc.TelemetryServiceServicer):
    def __init__(self, devices: DeviceTable) -> None:
        self._devices = devices

    @streaming
    async def Subscribe(
        self, request: telemetry_pb2.SubscribeRequest, context: Any
    ) -> AsyncIterator[telemetry_pb2.TelemetryUpdate]:
        device = self._devices.get(request.device_id)
        if request.mode == telemetry_pb2.SUBSCRIPTION_MODE_ON_CHANGE:
            raise unimplemented("ON_CHANGE subscriptions are not implemented yet; use SAMPLE")
        if request.mode not in telemetry_pb2.SubscriptionMode.values():
            raise invalid_argument("mode", f"unknown subscription mode {request.mode}")
        if request.deadband_c:
            # A deadband only means something with ON_CHANGE; silently ignoring it would send
            # the client every sample it asked not to see.
            raise invalid_argument(
                "deadband_c", "applies to ON_CHANGE subscriptions only; SAMPLE sends every sample"
            )
        interval_s = request.sample_interval_s or DEFAULT_SAMPLE_INTERVAL_S
        floor_s = max(
            device.runtime.period_s, *(s.min_sample_period_s for s in device.profile.sensors)
        )
        if not math.isfinite(interval_s) or interval_s < floor_s:
            raise invalid_argument(
                "sample_interval_s",
                f"must be at least {floor_s:g} s (the control loop's sampling period), "
                f"got {interval_s}",
            )
        hub = device.runtime.hub
        subscription, snapshot = hub.subscribe(interval_s)
        try:
            yield telemetry_pb2.TelemetryUpdate(
                layout=telemetry_pb2.SensorLayout(
                    device_id=device.id, sensor_ids=[s.id for s in device.profile.sensors]
                )
            )
            if snapshot is not None:
                yield telemetry_pb2.TelemetryUpdate(
                    batch=telemetry_pb2.TelemetryBatch(frames=[frame_to_proto(snapshot)])
                )
            yield telemetry_pb2.TelemetryUpdate(sync_response=True)
            while True:
                frames = await subscription.next_frames()
                yield telemetry_pb2.TelemetryUpdate(
                    batch=telemetry_pb2.TelemetryBatch(frames=[frame_to_proto(f) for f in frames]),
                    dropped_frames=subscription.dropped,
                )
        finally:
            hub.unsubscribe(subscription)

    @unary
    async def GetHistory(
        self, request: telemetry_pb2.GetHistoryRequest, context: Any
    ) -> telemetry_pb2.GetHistoryResponse:
        raise unimplemented("GetHistory is not implemented yet: telemetry is not recorded")
