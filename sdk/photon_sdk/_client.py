"""The blocking client: every photond call, with SDK types in and out and SDK errors raised.

:class:`AsyncClient` in ``_async_client.py`` mirrors this class method for method; requests
are built and answers decoded in ``_base.py``/``_convert.py``, shared by both.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Self, TypeVar

import grpc

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
from ._credentials import Tls, open_channel
from ._errors import PhotonError, ProtocolError, map_rpc_error
from ._pick import Candidate, DeviceChoice, _Skipped, choose
from ._pool import PoolChannel
from ._resubscribe import ResilientTelemetry
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

__all__ = ["Client", "TelemetryPoller", "TelemetryStream"]

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


class Client(BaseClient):
    """A blocking photond client over one gRPC channel.

    Args:
        target: a gRPC target (``unix:/path/photond.sock``, ``host:port``); None picks
            :func:`~photon_sdk.default_target`.
        timeout_s: deadline of every unary call, in seconds; None (the default) gives each
            call its own (:data:`~photon_sdk.DEFAULT_TIMEOUTS_S`: 5 s for state reads and
            stops, 60 s for submit and plan). Streams have no deadline; close them instead.
        token: a bearer token (``photond hash-token`` makes one), sent as ``authorization``
            metadata on every call; photond maps it to a role. None: no token (on the Unix
            socket photond grants its ``unix_socket_role``, or the role of your uid or groups
            when it has ``[security.unix_users]`` / ``[security.unix_groups]``).
        tls: a :class:`~photon_sdk.Tls` to connect with TLS (and a client certificate, for
            mutual TLS); None: plaintext, as on the Unix socket and loopback.

    A call that ends UNAVAILABLE (no daemon yet, a restart, a connection lost before the
    answer) is retried by gRPC with backoff, up to 5 attempts within its deadline (see
    :data:`~photon_sdk.RETRY_POLICY`); only then does it raise
    :class:`~photon_sdk.Unavailable`.

    Raises (from every method): a subclass of :class:`~photon_sdk.RpcError` for a non-OK
    status, e.g. :class:`~photon_sdk.Unavailable` when no daemon answers at ``target``.

    Use as a context manager, or call :meth:`close`, to release the channel.
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
        self._channel = open_channel(self._target, CHANNEL_OPTIONS, token, tls)
        # Several daemons: a Client per endpoint, and this one's calls routed over their
        # channels by what each call needs (see _pool: stateless calls round-robin).
        self._endpoints: tuple[Client, ...] = ()
        if len(self.targets) > 1:
            self._channel.close()
            self._endpoints = tuple(
                Client(t, timeout_s=timeout_s, token=token, tls=tls) for t in self.targets
            )
            self._channel = PoolChannel(self.targets, [e._channel for e in self._endpoints])
        self._devices = device_pb2_grpc.DeviceServiceStub(self._channel)
        self._jobs = job_pb2_grpc.JobServiceStub(self._channel)
        self._telemetry = telemetry_pb2_grpc.TelemetryServiceStub(self._channel)

    def _call(
        self, rpc: str, method: grpc.UnaryUnaryMultiCallable[_Req, _Resp], request: _Req
    ) -> _Resp:
        try:
            return method(request, timeout=self._deadline_s(rpc))
        except grpc.RpcError as exc:
            raise map_rpc_error(exc) from exc

    def list_devices(self) -> list[Device]:
        """Return every device the daemon owns."""
        request = device_pb2.ListDevicesRequest()
        response = self._call("ListDevices", self._devices.ListDevices, request)
        return [device_from_proto(d) for d in response.devices]

    def get_device(self, device_id: str) -> Device:
        """Return one device's description (layout, heaters, lanes, sensors, limits)."""
        request = device_pb2.GetDeviceRequest(device_id=device_id)
        return device_from_proto(self._call("GetDevice", self._devices.GetDevice, request))

    def get_device_state(self, device_id: str) -> DeviceState:
        """Return a device's live state: serving, temperatures (°C), power (mW), what runs."""
        request = device_pb2.GetDeviceStateRequest(device_id=device_id)
        response = self._call("GetDeviceState", self._devices.GetDeviceState, request)
        return device_state_from_proto(response)

    def update_limits(self, device_id: str, limits: Limits) -> Limits:
        """Set a device's operating limits (°C, °C/mm, mW/mm²); return the limits now in force.

        Each may be tightened or relaxed within the device profile's hard limits (the
        hysteresis only raised); a field 0 keeps the value in force. The daemon journals them
        and holds new plans, the running job (re-planned if it no longer keeps them), queued
        jobs and the interlock to them. Start from ``get_device(id).limits`` and
        ``dataclasses.replace`` the ones to change.

        Raises:
            PermissionDenied: the caller is not an admin.
            InvalidArgument: a limit beyond the profile's, or inconsistent with the others
                (the field is named, e.g. ``limits.interlock_temperature_c``).
        """
        request = self._update_limits_request(device_id, limits)
        return limits_from_proto(self._call("UpdateLimits", self._devices.UpdateLimits, request))

    def emergency_stop(self, device_id: str, reason: str = "") -> DeviceState:
        """Put a device in its safe state now: heaters off, dispatch paused, running job held.

        The held job fails if the stop outlasts the daemon's hold timeout; :meth:`resume`
        continues it. ``reason`` is recorded with the stop and shown as the device's
        ``not_serving_reason``. Returns the device's state after the stop.
        """
        request = self._emergency_stop_request(device_id, reason)
        response = self._call("EmergencyStop", self._devices.EmergencyStop, request)
        return device_state_from_proto(response)

    def resume(self, device_id: str) -> DeviceState:
        """Leave an emergency stop and resume dispatch; return the device's state after it.

        After an interlock trip, dispatch resumes only once the die has cooled below the
        interlock temperature minus its hysteresis (°C).
        """
        request = self._resume_request(device_id)
        return device_state_from_proto(self._call("Resume", self._devices.Resume, request))

    def submit_job(
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

        ``device_id`` "" lets the daemon pick its only device; ``name`` "" uses
        ``graph.name``. ``level`` sets how hard the planner searches and ``validation`` how
        much the daemon checks the plan (None: the daemon's defaults, BALANCED and STRICT).
        ``validate=False`` skips the client-side checks (the daemon checks anyway), which is
        how tests reach the daemon's own validation.

        ``request_id`` is the idempotency key; None sends a fresh UUID. Every retry of this
        call resends it, so a submission whose answer was lost is not run twice. To retry by
        hand after an error, pass the same ``request_id`` again.

        Raises:
            GraphError: the graph is invalid (only with ``validate=True``).
            FailedPrecondition: the graph cannot run within the device's limits.
            AlreadyExists: ``request_id`` was used before for a different request.
        """
        request = self._submit_request(
            graph, device_id, name, level, validation, validate, request_id, view
        )
        return job_from_proto(self._call("SubmitJob", self._jobs.SubmitJob, request))

    def get_job(self, job_id: str, *, view: JobView = JobView.FULL) -> Job:
        """Return a job's current state, schedule and result (times in s, °C, mJ)."""
        request = job_pb2.GetJobRequest(job_id=job_id, view=job_view(view))
        return job_from_proto(self._call("GetJob", self._jobs.GetJob, request))

    def watch_job(self, job_id: str) -> Generator[JobEvent, None, None]:
        """Yield a job's events from its submission on, then live, until the daemon ends it.

        Works on any job, whoever submitted it and however far it has got: the daemon replays
        the job's history first (numbered from 1), then follows it live, so watching a running
        job yields what already happened and then each new event; watching a finished job
        yields its whole history. Closing the generator (or leaving a ``for`` loop and
        dropping it) cancels the call.
        """
        call = self._jobs.WatchJob(job_pb2.WatchJobRequest(job_id=job_id))
        try:
            for message in _read(call):
                event = job_event_from_proto(message)
                if event is not None:
                    yield event
        finally:
            _cancel(call)

    def wait_job(self, job_id: str, on_event: Callable[[JobEvent], None] | None = None) -> Job:
        """Watch a job to its terminal event, then return it as :meth:`get_job` reports it.

        ``on_event`` sees every event on the way, e.g. to print task starts and ends.
        """
        events = self.watch_job(job_id)
        try:
            for event in events:
                if on_event is not None:
                    on_event(event)
                if event.is_terminal:
                    break
        finally:
            events.close()
        return self.get_job(job_id)

    def cancel_job(self, job_id: str, *, view: JobView = JobView.FULL) -> Job:
        """Cancel a job: queued tasks never start, running ones stop, heaters go off."""
        request = job_pb2.CancelJobRequest(job_id=job_id, view=job_view(view))
        return job_from_proto(self._call("CancelJob", self._jobs.CancelJob, request))

    def list_jobs(self, device_id: str = "", limit: int = 100) -> list[Job]:
        """Return jobs, newest first, without their tasks (``task_count`` says how many;
        :meth:`get_job` has them); ``device_id`` "" means every device."""
        request = self._list_jobs_request(device_id, limit)
        response = self._call("ListJobs", self._jobs.ListJobs, request)
        return [job_from_proto(j) for j in response.jobs]

    def plan_job(
        self,
        graph: TaskGraph,
        *,
        device_id: str = "",
        level: OptimizationLevel | None = None,
        validate: bool = True,
    ) -> Schedule:
        """Plan a task graph without running it (a dry run) and return the schedule.

        The same checks and planner as :meth:`submit_job`, nothing journaled or run. The
        schedule carries the makespan (s), its ``lower_bound_s`` and ``gap_to_bound`` (the
        fraction above the bound), and the predicted peak temperature (°C).

        Raises:
            GraphError: the graph is invalid (only with ``validate=True``).
            FailedPrecondition: the graph cannot run within the device's limits.
        """
        request = self._plan_request(graph, device_id, level, validate)
        return schedule_from_proto(self._call("PlanJob", self._jobs.PlanJob, request))

    def get_job_stats(self, device_id: str | None = None) -> JobStats:
        """Return counts over the daemon's journaled jobs; ``device_id`` None means every device.

        Raises:
            InvalidArgument: the daemon has no device ``device_id`` (the violation names
                ``device_id``).
        """
        request = self._job_stats_request(device_id)
        return job_stats_from_proto(self._call("GetJobStats", self._jobs.GetJobStats, request))

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
    ) -> TelemetryStream:
        """Stream a device's frames (gNMI STREAM): a snapshot, then live updates.

        SAMPLE (the default): a frame every ``sample_interval_s`` of device time; 0 means
        every sample the daemon's control loop takes (the fastest the device allows). An
        interval below the control period or a sensor's sampling floor is refused
        (:class:`~photon_sdk.InvalidArgument` naming ``sample_interval_s``, on the first read).

        ``deadband_c`` asks for ON_CHANGE instead: checked every ``sample_interval_s``, a
        frame carries only the sensors whose reading moved by more than that many °C since it
        was last sent (``frame.partial``). The daemon judges the move on each sensor's reading
        averaged over its ``telemetry_change_filter_s`` (20 ms by default), so sensor noise is
        not a change; the frame carries the raw reading. ``heartbeat_interval_s`` resends each
        sensor at least that often even without a change (ON_CHANGE, or SAMPLE with
        ``suppress_redundant``, which leaves out readings equal to the last one sent).
        ``updates_only`` skips the initial snapshot; ``sensor_ids`` streams only those sensors.

        The returned stream iterates :class:`~photon_sdk.TelemetryFrame` and reports
        ``dropped_frames`` and ``coalesced_samples`` (what the daemon folded together because
        this reader was slow); close it (or use it as a context manager) to cancel. A reader
        that takes nothing for the daemon's ``telemetry_stall_timeout_s`` is closed by the
        daemon: :class:`~photon_sdk.ResourceExhausted` on the next read.
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
        return TelemetryStream(self._telemetry.Subscribe(request))

    def snapshot(
        self, device_id: str = "", *, sensor_ids: Sequence[str] | None = None
    ) -> TelemetryFrame:
        """Return the device's latest frame (gNMI ONCE: a snapshot, then the stream ends).

        Raises:
            ProtocolError: the daemon sent no frame (it has not sampled the device yet).
        """
        request = self._snapshot_request(device_id, sensor_ids, telemetry_pb2.LIST_MODE_ONCE)
        # A snapshot is a state read: it gets GetDeviceState's deadline.
        call = self._telemetry.Subscribe(request, timeout=self._deadline_s("GetDeviceState"))
        frames = list(TelemetryStream(call))
        if not frames:
            raise ProtocolError("the daemon answered a snapshot without a frame")
        return frames[-1]

    def poll(
        self, device_id: str = "", *, sensor_ids: Sequence[str] | None = None
    ) -> TelemetryPoller:
        """Open a gNMI POLL subscription: each :meth:`TelemetryPoller.poll` returns the
        device's latest frame. Close it (or use it as a context manager) to end it."""
        request = self._snapshot_request(device_id, sensor_ids, telemetry_pb2.LIST_MODE_POLL)
        return TelemetryPoller(self._telemetry.Poll, request)

    def get_history(
        self,
        device_id: str,
        start_device_time_s: float,
        end_device_time_s: float,
        *,
        sensor_ids: Sequence[str] | None = None,
    ) -> list[TelemetryFrame]:
        """Return a device's recorded samples between two device-clock times (s), oldest
        first (readings only). The daemon keeps its last ``telemetry_history_s`` of samples;
        :meth:`get_history_buckets` summarises longer windows.

        Raises:
            InvalidArgument: a window that makes no sense (the violation names the field), an
                unknown sensor (``sensor_ids[i]``).
            ResourceExhausted: more samples than one answer holds (100,000; names
                ``bucket_s``: ask for buckets instead, or a narrower window).
        """
        request = self._history_request(
            device_id, start_device_time_s, end_device_time_s, 0.0, sensor_ids
        )
        response = self._call("GetHistory", self._telemetry.GetHistory, request)
        return list(history_from_proto(response, device_id).frames)

    def get_history_buckets(
        self,
        device_id: str,
        start_device_time_s: float,
        end_device_time_s: float,
        bucket_s: float,
        *,
        sensor_ids: Sequence[str] | None = None,
    ) -> TelemetryHistory:
        """Return per bucket of ``bucket_s`` device seconds and per sensor the lowest, highest
        and mean reading of a window (``history.buckets``, every bucket, empty ones too).

        Raises:
            InvalidArgument: a window or bucket width that makes no sense (below the control
                period; the violation names the field), an unknown sensor.
            ResourceExhausted: more than 10,000 buckets (names ``bucket_s``: widen them).
        """
        if not bucket_s > 0:
            raise ValueError(
                f"bucket_s must be > 0 (get_history has the samples), got {bucket_s!r}"
            )
        request = self._history_request(
            device_id, start_device_time_s, end_device_time_s, bucket_s, sensor_ids
        )
        response = self._call("GetHistory", self._telemetry.GetHistory, request)
        return history_from_proto(response, device_id)

    def check_health(self, service: str = "") -> bool:
        """Ask the standard ``grpc.health.v1`` service; True when it answers SERVING.

        ``service`` "" asks about the daemon as a whole, or name one, e.g.
        ``"photon.v1.JobService"`` or ``"photon.v1.Device/sim0"``. Needs no
        grpcio-health-checking: the two tiny messages are declared in the SDK.

        Raises:
            NotFound: the daemon does not know ``service``.
            Unimplemented: the daemon does not run the health service.
        """
        method = self._channel.unary_unary(_health.CHECK_METHOD, None, None)
        response: bytes = self._call("Check", method, _health.encode_request(service))
        return _health.decode_response(response) == _health.SERVING

    def endpoint(self, target: str) -> Client:
        """Return the client of one endpoint (``target`` as given to the constructor).

        A Client of several daemons sends calls that name a device or list one daemon's
        state to one of them through this, e.g. ``client.endpoint(choice.target)`` for the
        device :meth:`pick_device` chose. A Client of one daemon returns itself.

        Raises:
            ValueError: ``target`` is not one of this client's endpoints.
        """
        for endpoint in self._endpoints or (self,):
            if endpoint.target == target:
                return endpoint
        raise ValueError(f"{target!r} is not an endpoint of this client: {list(self.targets)}")

    def pick_device(
        self, graph: TaskGraph, *, level: OptimizationLevel | None = OptimizationLevel.FAST
    ) -> DeviceChoice:
        """Choose the device, across every endpoint, that should run ``graph``.

        For every device of every endpoint, in parallel: its live state and a dry-run plan
        of ``graph`` there (PlanJob at ``level``). Devices that are not serving, cannot run
        the graph (the plan is refused) or sit behind an unreachable endpoint are skipped,
        with the reason in ``choice.skipped``. The rest are ranked by jobs ahead of the graph
        (running + queued), then predicted makespan (s), then thermal headroom (°C left to
        the temperature limit); see :mod:`photon_sdk._pick`.

        Raises:
            GraphError: the graph is invalid.
            NoDeviceAvailable: no device can take it (the error lists why, per device).
        """
        graph.validate()
        endpoints = self._endpoints or (self,)
        with ThreadPoolExecutor(max_workers=8) as pool:
            listed = list(pool.map(_devices_or_error, endpoints))
            probes = [
                pool.submit(_probe, endpoint, device, graph, level)
                for endpoint, devices in zip(endpoints, listed, strict=True)
                if not isinstance(devices, PhotonError)
                for device in devices
            ]
            found = [p.result() for p in probes]
        skipped = [
            (e.target, "", str(devices))
            for e, devices in zip(endpoints, listed, strict=True)
            if isinstance(devices, PhotonError)
        ]
        candidates: list[tuple[Candidate, Schedule]] = []
        for item in found:
            if isinstance(item, _Skipped):
                skipped.append((item.target, item.device_id, item.reason))
            else:
                candidates.append(item)
        return choose(candidates, skipped)

    def follow_telemetry(
        self, device_id: str = "", sample_interval_s: float = 0.1, *, max_gap_s: float | None = None
    ) -> ResilientTelemetry:
        """Like :meth:`subscribe`, but the subscription survives daemon restarts.

        When the stream breaks (the daemon restarts or goes away, or closed this reader as
        stalled) it is opened again, and the iteration yields a
        :class:`~photon_sdk.TelemetryGap` — how long no frame came, the device-clock times on
        either side, why — before the first new frame. ``max_gap_s`` None waits for the
        daemon forever; else a longer break raises the error that caused it.
        """
        return ResilientTelemetry(
            lambda: self.subscribe(device_id, sample_interval_s), max_gap_s=max_gap_s
        )

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()
        for endpoint in self._endpoints:
            endpoint.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _read(call: Iterable[_Resp]) -> Iterator[_Resp]:
    """Iterate a server stream, translating its gRPC error at the choke point."""
    try:
        yield from call
    except grpc.RpcError as exc:
        raise map_rpc_error(exc) from exc


def _cancel(call: grpc.RpcContext) -> None:
    """Cancel a call; a no-op once it has ended (grpc-stubs leaves ``cancel`` untyped)."""
    call.cancel()  # type: ignore[no-untyped-call]


_END_OF_POLLS = object()


class TelemetryPoller:
    """A gNMI POLL subscription (:meth:`Client.poll`): :meth:`poll` returns the latest frame.

    ``initial`` is the snapshot the subscription opened with. Close it (or use it as a
    context manager) to end the subscription.
    """

    def __init__(
        self,
        method: grpc.StreamStreamMultiCallable[
            telemetry_pb2.PollRequest, telemetry_pb2.TelemetryUpdate
        ],
        request: telemetry_pb2.SubscribeRequest,
    ) -> None:
        self._requests: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._requests.put(telemetry_pb2.PollRequest(subscribe=request))
        outgoing: Iterator[telemetry_pb2.PollRequest] = iter(
            self._requests.get,  # type: ignore[arg-type]
            _END_OF_POLLS,
        )
        self._call = method(outgoing)
        self._messages: Iterator[telemetry_pb2.TelemetryUpdate] = _read(self._call)
        self._decoder = TelemetryDecoder()
        self.initial: TelemetryFrame | None = self._until_sync()

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        """Sensor ids in layout order."""
        return self._decoder.sensor_ids or ()

    def poll(self) -> TelemetryFrame | None:
        """Ask for a snapshot and return it (None before the daemon's first sample)."""
        self._requests.put(telemetry_pb2.PollRequest(poll=telemetry_pb2.Poll()))
        return self._until_sync()

    def _until_sync(self) -> TelemetryFrame | None:
        self._decoder.synced = False
        frames: list[TelemetryFrame] = []
        while not self._decoder.synced:
            try:
                message = next(self._messages)
            except StopIteration:
                raise ProtocolError("the daemon ended the poll subscription") from None
            frames.extend(self._decoder.feed(message))
        return frames[-1] if frames else None

    def close(self) -> None:
        """End the subscription."""
        self._requests.put(_END_OF_POLLS)
        _cancel(self._call)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class TelemetryStream(Iterator[TelemetryFrame]):
    """A live telemetry subscription: iterate it for frames; close it to cancel.

    ``sensor_ids`` and ``device_id`` are known once the first frame has been read;
    ``dropped_frames`` counts frames the daemon dropped because this reader was too slow.
    """

    def __init__(self, call: grpc.CallIterator[telemetry_pb2.TelemetryUpdate]) -> None:
        self._call = call
        self._messages: Iterator[telemetry_pb2.TelemetryUpdate] = _read(call)
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

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> TelemetryFrame:
        while not self._pending:
            message = next(self._messages)  # StopIteration ends the stream cleanly
            self._pending = self._decoder.feed(message)
        return self._pending.pop(0)

    def close(self) -> None:
        """Cancel the subscription; iteration then stops."""
        _cancel(self._call)
        self._pending.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _devices_or_error(client: Client) -> list[Device] | PhotonError:
    try:
        return client.list_devices()
    except PhotonError as exc:
        return exc


def _probe(
    client: Client, device: Device, graph: TaskGraph, level: OptimizationLevel | None
) -> tuple[Candidate, Schedule] | _Skipped:
    """One device's candidacy for pick_device: (candidate, its plan), or why it is out."""
    try:
        state = client.get_device_state(device.id)
        if not state.serving:
            return _Skipped(client.target, device.id, f"not serving: {state.not_serving_reason}")
        plan = client.plan_job(graph, device_id=device.id, level=level, validate=False)
    except PhotonError as exc:
        return _Skipped(client.target, device.id, str(exc))
    limit_c = device.limits.max_device_temperature_c
    return (Candidate.of(client.target, state, limit_c, plan), plan)
