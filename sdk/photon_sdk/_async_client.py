"""The asyncio client: :class:`Client`'s twin, method for method, for event-loop programs.

Same names, same order, same arguments and the same SDK types and errors as ``_client.py``;
only the waiting differs. Requests are built and answers decoded in the shared sans-I/O code.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import grpc
import grpc.aio

from photon.v1 import (
    device_pb2,
    device_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    telemetry_pb2,
    telemetry_pb2_grpc,
)

from . import _health
from ._base import BaseClient, TelemetryDecoder, job_view
from ._channel import CHANNEL_OPTIONS
from ._convert import (
    device_from_proto,
    device_state_from_proto,
    history_from_proto,
    job_event_from_proto,
    job_from_proto,
    job_stats_from_proto,
    limits_from_proto,
    schedule_from_proto,
)
from ._credentials import Tls, open_aio_channel
from ._errors import PhotonError, ProtocolError, map_rpc_error
from ._pick import Candidate, DeviceChoice, _Skipped, choose
from ._resubscribe import AsyncResilientTelemetry
from .graph import TaskGraph
from .types import (
    Device,
    DeviceState,
    Job,
    JobEvent,
    JobStats,
    JobView,
    Limits,
    OptimizationLevel,
    Schedule,
    TelemetryFrame,
    TelemetryHistory,
    ValidationLevel,
)

__all__ = ["AsyncClient", "AsyncTelemetryPoller", "AsyncTelemetryStream"]

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

# The end-of-stream sentinel of ``call.read()``; grpc-stubs does not declare it.
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]


class AsyncClient(BaseClient):
    """An asyncio photond client over one ``grpc.aio`` channel.

    Construct it inside the running event loop (``grpc.aio`` binds the channel to it).

    Args:
        target: a gRPC target (``unix:/path/photond.sock``, ``host:port``); None picks
            :func:`~photon_sdk.default_target`.
        timeout_s: deadline of every unary call, in seconds; None (the default) gives each
            call its own (:data:`~photon_sdk.DEFAULT_TIMEOUTS_S`). Streams have no deadline.
        token: a bearer token (``photond hash-token`` makes one), sent as ``authorization``
            metadata on every call; photond maps it to a role. None: no token (on the Unix
            socket photond grants its ``unix_socket_role``, or the role of your uid or groups
            when it has ``[security.unix_users]`` / ``[security.unix_groups]``).
        tls: a :class:`~photon_sdk.Tls` to connect with TLS (and a client certificate, for
            mutual TLS); None: plaintext, as on the Unix socket and loopback.

    UNAVAILABLE is retried by gRPC with backoff as in :class:`Client`.

    Raises (from every method): a subclass of :class:`~photon_sdk.RpcError` for a non-OK
    status, e.g. :class:`~photon_sdk.Unavailable` when no daemon answers at ``target``.

    Use as an async context manager, or await :meth:`close`, to release the channel.
    """

    def __init__(
        self,
        target: str | Sequence[str] | None = None,
        *,
        timeout_s: float | None = None,
        token: str | None = None,
        tls: Tls | None = None,
    ) -> None:
        super().__init__(target, timeout_s=timeout_s)
        if len(self.targets) > 1:
            raise ValueError(
                "AsyncClient talks to one daemon; Client([...]) spreads calls over several "
                "(or open an AsyncClient per endpoint)"
            )
        self._channel = open_aio_channel(self._target, CHANNEL_OPTIONS, token, tls)
        self._devices = device_pb2_grpc.DeviceServiceStub(self._channel)
        self._jobs = job_pb2_grpc.JobServiceStub(self._channel)
        self._telemetry = telemetry_pb2_grpc.TelemetryServiceStub(self._channel)

    async def _call(
        self, rpc: str, method: grpc.aio.UnaryUnaryMultiCallable[_Req, _Resp], request: _Req
    ) -> _Resp:
        try:
            return await method(request, timeout=self._deadline_s(rpc))
        except grpc.RpcError as exc:
            raise map_rpc_error(exc) from exc

    async def list_devices(self) -> list[Device]:
        """Return every device the daemon owns."""
        request = device_pb2.ListDevicesRequest()
        response = await self._call("ListDevices", self._devices.ListDevices, request)
        return [device_from_proto(d) for d in response.devices]

    async def get_device(self, device_id: str) -> Device:
        """Return one device's description (layout, heaters, lanes, sensors, limits)."""
        request = device_pb2.GetDeviceRequest(device_id=device_id)
        return device_from_proto(await self._call("GetDevice", self._devices.GetDevice, request))

    async def get_device_state(self, device_id: str) -> DeviceState:
        """Return a device's live state: serving, temperatures (°C), power (mW), what runs."""
        request = device_pb2.GetDeviceStateRequest(device_id=device_id)
        response = await self._call("GetDeviceState", self._devices.GetDeviceState, request)
        return device_state_from_proto(response)

    async def update_limits(self, device_id: str, limits: Limits) -> Limits:
        """Set a device's operating limits; see :meth:`Client.update_limits`.

        Raises:
            PermissionDenied: the caller is not an admin.
            InvalidArgument: a limit beyond the profile's, or inconsistent with the others.
        """
        request = self._update_limits_request(device_id, limits)
        response = await self._call("UpdateLimits", self._devices.UpdateLimits, request)
        return limits_from_proto(response)

    async def emergency_stop(self, device_id: str, reason: str = "") -> DeviceState:
        """Put a device in its safe state now; see :meth:`Client.emergency_stop`."""
        request = self._emergency_stop_request(device_id, reason)
        response = await self._call("EmergencyStop", self._devices.EmergencyStop, request)
        return device_state_from_proto(response)

    async def resume(self, device_id: str) -> DeviceState:
        """Leave an emergency stop and resume dispatch; see :meth:`Client.resume`."""
        request = self._resume_request(device_id)
        return device_state_from_proto(await self._call("Resume", self._devices.Resume, request))

    async def submit_job(
        self,
        graph: TaskGraph,
        *,
        device_id: str = "",
        name: str = "",
        level: OptimizationLevel | None = None,
        validation: ValidationLevel | None = None,
        validate: bool = True,
        request_id: str | None = None,
        view: JobView = JobView.FULL,
    ) -> Job:
        """Submit a task graph; return the job once the daemon has journaled it.

        See :meth:`Client.submit_job`: the same levels, and the same ``request_id`` resent on
        every retry.

        Raises:
            GraphError: the graph is invalid (only with ``validate=True``).
        """
        request = self._submit_request(
            graph, device_id, name, level, validation, validate, request_id, view
        )
        return job_from_proto(await self._call("SubmitJob", self._jobs.SubmitJob, request))

    async def get_job(self, job_id: str, *, view: JobView = JobView.FULL) -> Job:
        """Return a job's current state, schedule and result (times in s, °C, mJ)."""
        request = job_pb2.GetJobRequest(job_id=job_id, view=job_view(view))
        return job_from_proto(await self._call("GetJob", self._jobs.GetJob, request))

    async def watch_job(self, job_id: str) -> AsyncGenerator[JobEvent, None]:
        """Yield a job's events from its submission on, then live, until the daemon ends it.

        Works on a job already running: its history first, then each new event (see
        :meth:`Client.watch_job`). ``aclose()`` on the generator (or cancelling the task
        iterating it) cancels the call.
        """
        call = self._jobs.WatchJob(job_pb2.WatchJobRequest(job_id=job_id))
        try:
            while (message := await _read(call)) is not None:
                event = job_event_from_proto(message)
                if event is not None:
                    yield event
        finally:
            call.cancel()

    async def wait_job(
        self,
        job_id: str,
        on_event: Callable[[JobEvent], Awaitable[None] | None] | None = None,
    ) -> Job:
        """Watch a job to its terminal event, then return it as :meth:`get_job` reports it.

        ``on_event`` sees every event on the way; it may be a plain or an async function.
        """
        events = self.watch_job(job_id)
        try:
            async for event in events:
                if on_event is not None:
                    outcome = on_event(event)
                    if inspect.isawaitable(outcome):
                        await outcome
                if event.is_terminal:
                    break
        finally:
            await events.aclose()
        return await self.get_job(job_id)

    async def cancel_job(self, job_id: str, *, view: JobView = JobView.FULL) -> Job:
        """Cancel a job: queued tasks never start, running ones stop, heaters go off."""
        request = job_pb2.CancelJobRequest(job_id=job_id, view=job_view(view))
        return job_from_proto(await self._call("CancelJob", self._jobs.CancelJob, request))

    async def list_jobs(self, device_id: str = "", limit: int = 100) -> list[Job]:
        """Return jobs, newest first, without their tasks (``task_count`` says how many;
        :meth:`get_job` has them); ``device_id`` "" means every device."""
        request = self._list_jobs_request(device_id, limit)
        response = await self._call("ListJobs", self._jobs.ListJobs, request)
        return [job_from_proto(j) for j in response.jobs]

    async def plan_job(
        self,
        graph: TaskGraph,
        *,
        device_id: str = "",
        level: OptimizationLevel | None = None,
        validate: bool = True,
    ) -> Schedule:
        """Plan a task graph without running it (a dry run); see :meth:`Client.plan_job`."""
        request = self._plan_request(graph, device_id, level, validate)
        return schedule_from_proto(await self._call("PlanJob", self._jobs.PlanJob, request))

    async def get_job_stats(self, device_id: str | None = None) -> JobStats:
        """Return counts over the daemon's journaled jobs; ``device_id`` None means every device.

        See :meth:`Client.get_job_stats`.
        """
        request = self._job_stats_request(device_id)
        response = await self._call("GetJobStats", self._jobs.GetJobStats, request)
        return job_stats_from_proto(response)

    def subscribe(
        self,
        device_id: str = "",
        sample_interval_s: float = 0.1,
        *,
        deadband_c: float | None = None,
        heartbeat_interval_s: float = 0.0,
        suppress_redundant: bool = False,
        updates_only: bool = False,
        sensor_ids: Sequence[str] | None = None,
    ) -> AsyncTelemetryStream:
        """Stream a device's frames (gNMI STREAM); the options are :meth:`Client.subscribe`'s.

        Not a coroutine: iterate the result with ``async for``; ``await stream.aclose()`` (or
        ``async with``) cancels the subscription.
        """
        request = self._subscribe_request(
            device_id,
            sample_interval_s,
            deadband_c,
            heartbeat_interval_s,
            suppress_redundant,
            updates_only,
            sensor_ids,
        )
        return AsyncTelemetryStream(self._telemetry.Subscribe(request))

    async def snapshot(
        self, device_id: str = "", *, sensor_ids: Sequence[str] | None = None
    ) -> TelemetryFrame:
        """Return the device's latest frame (gNMI ONCE); see :meth:`Client.snapshot`."""
        request = self._snapshot_request(device_id, sensor_ids, telemetry_pb2.LIST_MODE_ONCE)
        # A snapshot is a state read: it gets GetDeviceState's deadline.
        call = self._telemetry.Subscribe(request, timeout=self._deadline_s("GetDeviceState"))
        frames = [frame async for frame in AsyncTelemetryStream(call)]
        if not frames:
            raise ProtocolError("the daemon answered a snapshot without a frame")
        return frames[-1]

    async def poll(
        self, device_id: str = "", *, sensor_ids: Sequence[str] | None = None
    ) -> AsyncTelemetryPoller:
        """Open a gNMI POLL subscription; see :meth:`Client.poll`."""
        request = self._snapshot_request(device_id, sensor_ids, telemetry_pb2.LIST_MODE_POLL)
        # No request iterator: the poller writes its requests (grpc-stubs wants one).
        poller = AsyncTelemetryPoller(self._telemetry.Poll())  # type: ignore[call-arg]
        await poller._start(request)
        return poller

    async def get_history(
        self,
        device_id: str,
        start_device_time_s: float,
        end_device_time_s: float,
        *,
        sensor_ids: Sequence[str] | None = None,
    ) -> list[TelemetryFrame]:
        """Return a device's recorded samples; see :meth:`Client.get_history`."""
        request = self._history_request(
            device_id, start_device_time_s, end_device_time_s, 0.0, sensor_ids
        )
        response = await self._call("GetHistory", self._telemetry.GetHistory, request)
        return list(history_from_proto(response, device_id).frames)

    async def get_history_buckets(
        self,
        device_id: str,
        start_device_time_s: float,
        end_device_time_s: float,
        bucket_s: float,
        *,
        sensor_ids: Sequence[str] | None = None,
    ) -> TelemetryHistory:
        """Return min / max / mean per bucket; see :meth:`Client.get_history_buckets`."""
        if not bucket_s > 0:
            raise ValueError(
                f"bucket_s must be > 0 (get_history has the samples), got {bucket_s!r}"
            )
        request = self._history_request(
            device_id, start_device_time_s, end_device_time_s, bucket_s, sensor_ids
        )
        response = await self._call("GetHistory", self._telemetry.GetHistory, request)
        return history_from_proto(response, device_id)

    async def check_health(self, service: str = "") -> bool:
        """Ask the standard ``grpc.health.v1`` service; True when it answers SERVING.

        See :meth:`Client.check_health`.
        """
        method = self._channel.unary_unary(_health.CHECK_METHOD, None, None)
        response = await self._call("Check", method, _health.encode_request(service))
        return _health.decode_response(cast(bytes, response)) == _health.SERVING

    def endpoint(self, target: str) -> AsyncClient:
        """Return this client if ``target`` is its endpoint (see :meth:`Client.endpoint`).

        Raises:
            ValueError: ``target`` is not this client's endpoint.
        """
        if target != self.target:
            raise ValueError(f"{target!r} is not an endpoint of this client: {self.target!r}")
        return self

    async def pick_device(
        self, graph: TaskGraph, *, level: OptimizationLevel | None = OptimizationLevel.FAST
    ) -> DeviceChoice:
        """Choose this daemon's device that should run ``graph``; see :meth:`Client.pick_device`
        (the devices' states and dry-run plans are gathered concurrently)."""
        graph.validate()
        devices = await self.list_devices()
        found = await asyncio.gather(*(self._probe(d, graph, level) for d in devices))
        candidates: list[tuple[Candidate, Schedule]] = []
        skipped: list[tuple[str, str, str]] = []
        for item in found:
            if isinstance(item, _Skipped):
                skipped.append((item.target, item.device_id, item.reason))
            else:
                candidates.append(item)
        return choose(candidates, skipped)

    async def _probe(
        self, device: Device, graph: TaskGraph, level: OptimizationLevel | None
    ) -> tuple[Candidate, Schedule] | _Skipped:
        try:
            state = await self.get_device_state(device.id)
            if not state.serving:
                reason = f"not serving: {state.not_serving_reason}"
                return _Skipped(self.target, device.id, reason)
            plan = await self.plan_job(graph, device_id=device.id, level=level, validate=False)
        except PhotonError as exc:
            return _Skipped(self.target, device.id, str(exc))
        limit_c = device.limits.max_device_temperature_c
        return (Candidate.of(self.target, state, limit_c, plan), plan)

    def follow_telemetry(
        self, device_id: str = "", sample_interval_s: float = 0.1, *, max_gap_s: float | None = None
    ) -> AsyncResilientTelemetry:
        """Like :meth:`subscribe`, surviving daemon restarts with a
        :class:`~photon_sdk.TelemetryGap` per break; see :meth:`Client.follow_telemetry`."""
        return AsyncResilientTelemetry(
            lambda: self.subscribe(device_id, sample_interval_s), max_gap_s=max_gap_s
        )

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self._channel.close(grace=None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def _read(
    call: grpc.aio.UnaryStreamCall[Any, _Resp] | grpc.aio.StreamStreamCall[Any, _Resp],
) -> _Resp | None:
    """Read the next message of a server stream (None at its end), translating errors."""
    try:
        message = await call.read()
    except grpc.RpcError as exc:
        raise map_rpc_error(exc) from exc
    if message is _EOF:
        return None
    return cast(_Resp, message)


class AsyncTelemetryPoller:
    """A gNMI POLL subscription (:meth:`AsyncClient.poll`): ``await poll()`` returns the
    latest frame; ``initial`` is the snapshot it opened with; ``aclose()`` ends it."""

    def __init__(
        self,
        call: grpc.aio.StreamStreamCall[telemetry_pb2.PollRequest, telemetry_pb2.TelemetryUpdate],
    ) -> None:
        self._call = call
        self._decoder = TelemetryDecoder()
        self.initial: TelemetryFrame | None = None

    async def _start(self, request: telemetry_pb2.SubscribeRequest) -> None:
        await self._write(telemetry_pb2.PollRequest(subscribe=request))
        self.initial = await self._until_sync()

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        """Sensor ids in layout order."""
        return self._decoder.sensor_ids or ()

    async def poll(self) -> TelemetryFrame | None:
        """Ask for a snapshot and return it (None before the daemon's first sample)."""
        await self._write(telemetry_pb2.PollRequest(poll=telemetry_pb2.Poll()))
        return await self._until_sync()

    async def _write(self, request: telemetry_pb2.PollRequest) -> None:
        try:
            await self._call.write(request)
        except grpc.RpcError as exc:
            raise map_rpc_error(exc) from exc

    async def _until_sync(self) -> TelemetryFrame | None:
        self._decoder.synced = False
        frames: list[TelemetryFrame] = []
        while not self._decoder.synced:
            message = await _read(self._call)
            if message is None:
                raise ProtocolError("the daemon ended the poll subscription")
            frames.extend(self._decoder.feed(message))
        return frames[-1] if frames else None

    async def aclose(self) -> None:
        """End the subscription."""
        self._call.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncTelemetryStream:
    """A live telemetry subscription: ``async for`` it for frames; ``aclose()`` to cancel.

    ``sensor_ids`` and ``device_id`` are known once the first frame has been read;
    ``dropped_frames`` counts frames the daemon dropped because this reader was too slow.
    """

    def __init__(
        self,
        call: grpc.aio.UnaryStreamCall[
            telemetry_pb2.SubscribeRequest, telemetry_pb2.TelemetryUpdate
        ],
    ) -> None:
        self._call = call
        self._decoder = TelemetryDecoder()
        self._pending: list[TelemetryFrame] = []

    @property
    def device_id(self) -> str:
        """The subscribed device ("" until the stream's first message arrived)."""
        return self._decoder.device_id

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        """Sensor ids in layout order (empty until the stream's first message arrived)."""
        return self._decoder.sensor_ids or ()

    @property
    def dropped_frames(self) -> int:
        """Frames missed since the stream began because this reader was too slow: each was
        folded into a later one by the daemon."""
        return self._decoder.dropped_frames

    @property
    def coalesced_samples(self) -> int:
        """Readings the daemon replaced by a newer reading of the same sensor before this
        reader took them, since the stream began."""
        return self._decoder.coalesced_samples

    @property
    def synced(self) -> bool:
        """True once the initial snapshot has been read (the daemon's sync marker)."""
        return self._decoder.synced

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> TelemetryFrame:
        while not self._pending:
            message: telemetry_pb2.TelemetryUpdate | None = await _read(self._call)
            if message is None:
                raise StopAsyncIteration
            self._pending = self._decoder.feed(message)
        return self._pending.pop(0)

    async def aclose(self) -> None:
        """Cancel the subscription; iteration then stops."""
        self._call.cancel()
        self._pending.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
