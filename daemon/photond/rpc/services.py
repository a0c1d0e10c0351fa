"""The photon.v1 services: thin translations between the wire and the daemon's parts.

Handlers check every field they use, hand the work to the job book, the planner or a device
runtime, and turn `RequestError`s into statuses with field details. Anything unexpected is
logged and answered with INTERNAL: no request can take the daemon down.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from opentelemetry import context as otel_context

from photon.v1 import (
    device_pb2,
    device_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    telemetry_pb2,
    telemetry_pb2_grpc,
)
from photond.jobs.book import FollowEnded, JobBook, JobRecord, RequestConflict, new_job_id
from photond.jobs.journal import Journal
from photond.metrics import instruments
from photond.planning.plan import DEFAULT_MARGIN_C
from photond.rpc.devices import DeviceTable, ManagedDevice
from photond.rpc.handlers import RawRequest, Undecodable, note_undecodable
from photond.rpc.history_query import answer_history, check_history
from photond.rpc.limits import FIELDS as LIMIT_FIELDS
from photond.rpc.limits import merged_limits, over_density
from photond.rpc.planning_pool import Planned, PlanningPool
from photond.rpc.status import (
    RequestError,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
    permission_denied,
    quoted,
    to_grpc_status,
    unavailable,
)
from photond.rpc.telemetry_stream import (
    SYNC_BYTES,
    check_subscription,
    next_poll,
    selection_of,
    snapshot_bytes,
    stream_updates,
)
from photond.rpc.telemetry_stream import write as telemetry_write
from photond.security.access import AccessControl
from photond.security.identity import current_call
from photond.tracing import JobTrace, record_phases, tracer
from photond.wire import limits_to_proto, request_digest

log = logging.getLogger("photond.rpc")

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
    def __init__(
        self,
        devices: DeviceTable,
        journal: Journal | None = None,
        *,
        planning_margin_c: float = DEFAULT_MARGIN_C,
    ) -> None:
        self._devices = devices
        # Where UpdateLimits journals the limits it sets (None: not kept across restarts).
        self._journal = journal
        self._planning_margin_c = planning_margin_c

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
        device = self._devices.get(request.device_id)
        if not request.HasField("limits"):
            raise invalid_argument("limits", "the limits to set are required")
        limits = merged_limits(
            request.limits, device.runtime.limits, device.profile, self._planning_margin_c
        )
        answer = limits_to_proto(limits)
        if self._journal is not None:
            # On disk before it is in force: a restart comes back with what was answered.
            blob = answer.SerializeToString()
            await asyncio.wrap_future(self._journal.save_limits(device.id, blob, time.time()))
        cap = limits.max_power_density_mw_per_mm2
        lowered = cap < device.runtime.limits.max_power_density_mw_per_mm2
        device.runtime.update_limits(limits)
        if lowered:
            await asyncio.to_thread(_fail_over_density, device, cap)
        log.info(
            "limits updated",
            extra={"device": device.id, **{k: getattr(limits, k) for k in LIMIT_FIELDS}},
        )
        return answer

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
        planner: PlanningPool,
        *,
        planning_margin_c: float = DEFAULT_MARGIN_C,
        access: AccessControl | None = None,
    ) -> None:
        self._devices = devices
        self._book = book
        self._planner = planner
        # The security settings in force (max_queued_jobs_per_device); None: no limit.
        self._access = access
        # Submissions past the queue check and not yet queued, by device: counted with the
        # queue so that concurrent submissions cannot overshoot the limit together.
        self._admitted: dict[str, int] = {}
        # Plans peak this far below max temperature (the closed loop's margin: see control).
        self._planning_margin_c = planning_margin_c
        self.accepting = True

    async def _planned(self, device: ManagedDevice, request: RawRequest, submit: bool) -> Planned:
        """The request planned in the planning pool, off this process's interpreter."""
        level = request.header.optimization_level
        if level not in job_pb2.OptimizationLevel.values():
            raise invalid_argument("optimization_level", f"unknown optimization level {level}")
        with tracer.start_as_current_span(
            "photond.plan",
            attributes={"photond.device_id": device.id, "photond.request_bytes": len(request.body)},
        ) as span:
            planned = await self._planner.plan(
                submit, request.body, device.id, self._planning_margin_c, device.runtime.limits
            )
            span.set_attribute("photond.tasks", len(planned.graph.tasks))
            span.set_attribute("photond.makespan_s", planned.plan.makespan_s)
            span.set_attribute("photond.planning.plan", planned.plan.planner)
            span.set_attribute("photond.planning.level", instruments.level_name(level))
            span.set_attribute("photond.gap_to_bound", planned.plan.gap_to_bound)
            record_phases(planned.phases)
        instruments.record_plan(planned.plan, level, device.id)
        return planned

    # SubmitJob and PlanJob are registered raw (server.RAW_METHODS): they take the body with
    # its small fields read, and may answer with bytes, unlike the generated signatures.
    @unary
    async def SubmitJob(  # type: ignore[override]
        self, request: RawRequest, context: Any
    ) -> bytes:
        if not self.accepting:
            raise unavailable("photond is shutting down and accepts no new jobs")
        header = request.header
        _check_request_id(header.request_id)
        _check_view(header.view)
        if len(header.name) > MAX_NAME_CHARS:
            raise invalid_argument(
                "name", f"at most {MAX_NAME_CHARS} characters, got {len(header.name)}"
            )
        # A retry of a submission that was journaled: answer with that job, without planning.
        if header.request_id and self._book.submitted_any(header.request_id):
            digest = await asyncio.to_thread(_digest, request.body)
            earlier = self._submitted(header.request_id, digest)
            if earlier is not None:
                return await self._answer(earlier, header.view)
        device = self._devices.for_request(header.device_id)
        if header.validation_level not in job_pb2.ValidationLevel.values():
            raise invalid_argument(
                "validation_level", f"unknown validation level {header.validation_level}"
            )
        self._admit(device)
        try:
            return await self._submit(device, request, context)
        finally:
            self._admitted[device.id] -= 1

    def _admit(self, device: ManagedDevice) -> None:
        """Refuse a submission that would queue more than max_queued_jobs_per_device jobs."""
        admitted = self._admitted.get(device.id, 0)
        if self._access is not None:
            limit = self._access.config.max_queued_jobs_per_device
            if device.runtime.queued_jobs + admitted >= limit:
                raise RequestError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"device {device.id} has {limit} jobs queued or being submitted "
                    f"(security.max_queued_jobs_per_device = {limit}); retry when one has started",
                )
        self._admitted[device.id] = admitted + 1

    async def _submit(self, device: ManagedDevice, request: RawRequest, context: Any) -> bytes:
        header = request.header
        call = current_call()
        planned = await self._planned(device, request, submit=True)
        job_header = job_pb2.Job(
            id=new_job_id(),
            name=header.name,
            device_id=device.id,
            state=job_pb2.JOB_STATE_QUEUED,
            request_id=header.request_id,
            task_count=len(planned.graph.tasks),
            owner=call.identity.name if call is not None else "",
        )
        job_header.submitted_at.FromNanoseconds(time.time_ns())
        # The job's message is its header and the planner's fragments, end to end: the
        # journal stores those bytes and the answer is them, neither serialised again here.
        blob = b"".join((job_header.SerializeToString(), *planned.fragments))
        # The book keeps the job without its graph and schedule tasks, which never change and
        # which the journal holds (`JobBook.answer` reads them back): parsed, a 100k-task job's
        # were ~150 ms of the interpreter and tens of MB for as long as the job was kept.
        job = job_pb2.Job()
        job.CopyFrom(job_header)
        job.MergeFromString(planned.figures)
        record = JobRecord(
            job=job,
            graph=planned.graph,
            plan=planned.plan,
            request_digest=planned.digest,
            trace=JobTrace(otel_context.get_current()),
        )
        remaining_s = context.time_remaining()
        if context.cancelled() or (remaining_s is not None and remaining_s <= 0):
            # The client has gone (deadline or cancel): create nothing it was not told about.
            raise RequestError(grpc.StatusCode.CANCELLED, "the call ended before the job was made")
        # Journal, queue and answer: one call in a worker thread, which completes even if this
        # handler is cancelled meanwhile (the job is then journaled and queued, and a retry
        # with the same request_id finds it).
        try:
            with tracer.start_as_current_span(
                "photond.journal", attributes={"photond.job_id": job.id}
            ):
                stood = await asyncio.to_thread(
                    self._book.submit,
                    record,
                    device.runtime.driver.clock.now_s(),
                    device.runtime.enqueue,
                    blob,
                    planned.schedule_blob,
                )
        except RequestConflict as conflict:
            raise already_exists("request_id", str(conflict)) from None
        if call is not None:
            call.notes["job"] = stood.id
        if stood is not record:
            return await self._answer(stood, header.view)
        log.info(
            "job submitted",
            extra={"job": job.id, "device": device.id, "tasks": len(planned.graph.tasks)},
        )
        if header.view == job_pb2.JOB_VIEW_BASIC:
            return self._book.summary(record)
        return blob

    async def _answer(self, record: JobRecord, view: int) -> bytes:
        """The job as `view` asks (checked by `_check_view`): whole (read from the journal,
        off the event loop) or without its tasks."""
        if view == job_pb2.JOB_VIEW_BASIC:
            return self._book.summary(record)
        return await asyncio.to_thread(self._book.answer, record)

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
    async def GetJob(  # type: ignore[override]
        self, request: job_pb2.GetJobRequest, context: Any
    ) -> bytes:
        _check_view(request.view)
        return await self._answer(self._record(request.job_id), request.view)

    @streaming
    async def WatchJob(  # type: ignore[override]
        self, request: job_pb2.WatchJobRequest, context: Any
    ) -> AsyncIterator[bytes]:
        # Serialized events, sent as they are (the method's encoder passes bytes through).
        try:
            async for event in self._book.follow(self._record(request.job_id)):
                yield event
        except FollowEnded as ended:
            raise unavailable(str(ended)) from None

    @unary
    async def CancelJob(  # type: ignore[override]
        self, request: job_pb2.CancelJobRequest, context: Any
    ) -> bytes:
        _check_view(request.view)
        record = self._record(request.job_id)
        call = current_call()
        if call is not None and not call.identity.may_cancel(record.job.owner):
            raise permission_denied(
                "job_id",
                f"job {record.id} belongs to {record.job.owner or 'nobody recorded'}; "
                f"{call.identity.name} ({call.identity.role.label}) may cancel only its own jobs",
            )
        if record.terminal:
            state = job_pb2.JobState.Name(record.job.state)
            raise failed_precondition(f"job {record.id} has already ended ({state})")
        device = self._devices.get(record.job.device_id)
        device.runtime.cancel(record)
        await self._book.wait_terminal(record, CANCEL_WAIT_S)
        return await self._answer(record, request.view)

    @unary
    async def ListJobs(
        self, request: job_pb2.ListJobsRequest, context: Any
    ) -> job_pb2.ListJobsResponse:
        if request.device_id:
            self._devices.for_request(request.device_id)
        if request.limit > MAX_LIST_LIMIT:
            raise invalid_argument("limit", f"at most {MAX_LIST_LIMIT}, got {request.limit}")
        limit = request.limit or DEFAULT_LIST_LIMIT
        jobs = await asyncio.to_thread(self._book.list, request.device_id, limit)
        return job_pb2.ListJobsResponse(jobs=jobs)

    @unary
    async def PlanJob(self, request: RawRequest, context: Any) -> bytes:  # type: ignore[override]
        device = self._devices.for_request(request.header.device_id)
        planned = await self._planned(device, request, submit=False)
        return planned.fragments[0]

    @unary
    async def GetJobStats(
        self, request: job_pb2.GetJobStatsRequest, context: Any
    ) -> job_pb2.JobStats:
        # Unknown devices are refused the way ListJobs refuses them; "" means every device.
        if request.device_id:
            self._devices.for_request(request.device_id)
        return self._book.stats(request.device_id)


def _fail_over_density(device: ManagedDevice, cap_mw_per_mm2: float) -> None:
    """Fail the queued jobs that draw above a lowered power-density cap (no plan can fix a
    task's own power); the others re-plan against the new limits when they start."""
    for record in device.runtime.queued_records():
        if record.graph is None:
            continue
        reason = over_density(record.graph, device.profile, cap_mw_per_mm2)
        if reason and device.runtime.fail_queued(record, reason):
            log.info("queued job failed: over the new limits", extra={"job": record.id})


def _digest(body: bytes) -> str:
    return request_digest(job_pb2.SubmitJobRequest.FromString(body))


def _check_request_id(request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID_CHARS:
        raise invalid_argument(
            "request_id", f"at most {MAX_REQUEST_ID_CHARS} characters, got {len(request_id)}"
        )
    if not all(" " < c <= "~" for c in request_id):
        raise invalid_argument("request_id", "printable ASCII without spaces only (a UUID fits)")


def _check_view(view: int) -> None:
    # proto3 keeps an enum number it does not know; refused here rather than read as FULL.
    if view not in job_pb2.JobView.values():
        raise invalid_argument("view", f"unknown job view {view} (FULL = 1, BASIC = 2)")


class TelemetryService(telemetry_pb2_grpc.TelemetryServiceServicer):
    """Subscribe (STREAM, ONCE), Poll and GetHistory; the work is in `telemetry_stream` and
    `history_query`. Streams write through `context.write` under a timeout (see
    `telemetry_stream`) and yield nothing; they stay generators so that whatever iterates a
    stream's handler (interceptors) still can."""

    def __init__(self, devices: DeviceTable) -> None:
        self._devices = devices

    @streaming
    async def Subscribe(  # type: ignore[override]
        self, request: telemetry_pb2.SubscribeRequest, context: Any
    ) -> AsyncIterator[bytes]:
        await self._subscribe(request, context)
        nothing: tuple[bytes, ...] = ()
        for item in nothing:  # a generator that writes rather than yields (class docstring)
            yield item

    async def _subscribe(self, request: telemetry_pb2.SubscribeRequest, context: Any) -> None:
        device = self._devices.get(request.device_id)
        checked = check_subscription(request, device, poll=False)
        hub = device.runtime.hub
        stall_s = hub.config.stall_timeout_s
        selection = checked.spec.selection
        await telemetry_write(context, checked.layout, stall_s)
        if checked.list_mode == telemetry_pb2.LIST_MODE_ONCE:
            snapshot = snapshot_bytes(hub.latest, selection)
            if snapshot is not None and not checked.updates_only:
                await telemetry_write(context, snapshot, stall_s)
            await telemetry_write(context, SYNC_BYTES, stall_s)
            return
        subscription, latest = hub.subscribe(checked.spec)
        # Before any await: the fan-out may offer frames as soon as this task yields.
        subscription.start_from(latest, sent=not checked.updates_only)
        try:
            snapshot = snapshot_bytes(latest, selection)
            if snapshot is not None and not checked.updates_only:
                await telemetry_write(context, snapshot, stall_s)
            await telemetry_write(context, SYNC_BYTES, stall_s)
            await stream_updates(subscription, context, stall_s, hub.config.write_interval_s)
        finally:
            hub.unsubscribe(subscription)

    @streaming
    async def Poll(  # type: ignore[override]
        self, request_iterator: AsyncIterator[telemetry_pb2.PollRequest], context: Any
    ) -> AsyncIterator[bytes]:
        await self._poll(request_iterator, context)
        nothing: tuple[bytes, ...] = ()
        for item in nothing:  # a generator that writes rather than yields (class docstring)
            yield item

    async def _poll(
        self, request_iterator: AsyncIterator[telemetry_pb2.PollRequest], context: Any
    ) -> None:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None:
            return
        _refuse_undecodable("Poll", first)
        if first.WhichOneof("kind") != "subscribe":
            raise invalid_argument("subscribe", "the first message must carry the subscription")
        device = self._devices.get(first.subscribe.device_id, "subscribe.device_id")
        checked = check_subscription(first.subscribe, device, poll=True, prefix="subscribe.")
        hub = device.runtime.hub
        stall_s = hub.config.stall_timeout_s
        selection = checked.spec.selection
        await telemetry_write(context, checked.layout, stall_s)
        snapshot = snapshot_bytes(hub.latest, selection)
        if snapshot is not None and not checked.updates_only:
            await telemetry_write(context, snapshot, stall_s)
        await telemetry_write(context, SYNC_BYTES, stall_s)
        while (message := await next_poll(requests, hub)) is not None:
            _refuse_undecodable("Poll", message)
            if message.WhichOneof("kind") != "poll":
                raise invalid_argument("subscribe", "only the first message subscribes; send polls")
            snapshot = snapshot_bytes(hub.latest, selection)
            if snapshot is not None:
                await telemetry_write(context, snapshot, stall_s)
            await telemetry_write(context, SYNC_BYTES, stall_s)

    @unary
    async def GetHistory(
        self, request: telemetry_pb2.GetHistoryRequest, context: Any
    ) -> telemetry_pb2.GetHistoryResponse:
        device = self._devices.get(request.device_id)
        check_history(request, device)
        selection_of(list(request.sensor_ids), device, "")  # refused here, not on the thread
        return await asyncio.to_thread(answer_history, request, device)
