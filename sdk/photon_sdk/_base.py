"""What Client and AsyncClient share: configuration, request building, stream decoding; no I/O.

Keeping this sans-I/O means the two clients differ only in how they wait (threads versus
asyncio), so they cannot drift apart in what they send or how they read the answers.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence

from photon.v1 import device_pb2, job_pb2, telemetry_pb2

from ._channel import default_timeout_s
from ._convert import telemetry_frame_from_proto
from ._errors import GraphError, ProtocolError
from ._target import default_target
from .graph import TaskGraph
from .types import JobView, Limits, OptimizationLevel, TelemetryFrame, ValidationLevel

__all__ = ["BaseClient", "TelemetryDecoder", "job_view"]

_OPTIMIZATION_LEVELS = {
    OptimizationLevel.FAST: job_pb2.OPTIMIZATION_LEVEL_FAST,
    OptimizationLevel.BALANCED: job_pb2.OPTIMIZATION_LEVEL_BALANCED,
    OptimizationLevel.QUALITY: job_pb2.OPTIMIZATION_LEVEL_QUALITY,
}
_VALIDATION_LEVELS = {
    ValidationLevel.BASIC: job_pb2.VALIDATION_LEVEL_BASIC,
    ValidationLevel.STRICT: job_pb2.VALIDATION_LEVEL_STRICT,
    ValidationLevel.PARANOID: job_pb2.VALIDATION_LEVEL_PARANOID,
}
_JOB_VIEWS = {JobView.FULL: job_pb2.JOB_VIEW_FULL, JobView.BASIC: job_pb2.JOB_VIEW_BASIC}


class BaseClient:
    """Holds the target and deadlines and builds the requests both clients send."""

    def __init__(
        self, target: str | Sequence[str] | None = None, *, timeout_s: float | None = None
    ) -> None:
        if timeout_s is not None and not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if target is None:
            targets: tuple[str, ...] = (default_target(),)
        elif isinstance(target, str):
            targets = (target,)
        else:
            targets = tuple(dict.fromkeys(target))  # in order, each once
            if not targets or not all(isinstance(t, str) and t for t in targets):
                raise ValueError(f"target must be a target or a list of them, got {target!r}")
        self._targets = targets
        self._target = targets[0]
        self._timeout_s = timeout_s

    @property
    def target(self) -> str:
        """The gRPC target this client talks to, e.g. ``unix:/run/photond/photond.sock``
        (the first one, for a client of several endpoints)."""
        return self._target

    @property
    def targets(self) -> tuple[str, ...]:
        """Every endpoint this client talks to, in the order given (one for most clients)."""
        return self._targets

    @property
    def timeout_s(self) -> float | None:
        """Deadline of every unary call in seconds, or None for each call's own default.

        The defaults are :data:`photon_sdk.DEFAULT_TIMEOUTS_S` (5 s for state reads and stops,
        60 s for SubmitJob and PlanJob, ...). Streams (watch, subscribe) have no deadline.
        """
        return self._timeout_s

    def _deadline_s(self, rpc: str) -> float:
        """The deadline of one call of ``rpc`` (its method name, e.g. ``"SubmitJob"``)."""
        return self._timeout_s if self._timeout_s is not None else default_timeout_s(rpc)

    def __repr__(self) -> str:
        target = self._target if len(self._targets) == 1 else list(self._targets)
        return f"{type(self).__name__}(target={target!r}, timeout_s={self._timeout_s})"

    @staticmethod
    def _submit_request(
        graph: TaskGraph,
        device_id: str,
        name: str,
        level: OptimizationLevel | None,
        validation: ValidationLevel | None,
        validate: bool,
        request_id: str | None,
        view: JobView = JobView.FULL,
    ) -> job_pb2.SubmitJobRequest:
        if validate:
            graph.validate()
        return job_pb2.SubmitJobRequest(
            device_id=device_id,
            graph=_graph_proto(graph),
            name=name or graph.name,
            optimization_level=_optimization_level(level),
            validation_level=_validation_level(validation),
            # A fresh idempotency key per submission. gRPC's retries resend this very message,
            # so every attempt of one call carries the same key; a caller retrying by hand
            # passes the job's request_id again.
            request_id=uuid.uuid4().hex if request_id is None else request_id,
            view=job_view(view),
        )

    @staticmethod
    def _plan_request(
        graph: TaskGraph, device_id: str, level: OptimizationLevel | None, validate: bool
    ) -> job_pb2.PlanJobRequest:
        if validate:
            graph.validate()
        return job_pb2.PlanJobRequest(
            device_id=device_id,
            graph=_graph_proto(graph),
            optimization_level=_optimization_level(level),
        )

    @staticmethod
    def _emergency_stop_request(device_id: str, reason: str) -> device_pb2.EmergencyStopRequest:
        return device_pb2.EmergencyStopRequest(device_id=device_id, reason=reason)

    @staticmethod
    def _resume_request(device_id: str) -> device_pb2.ResumeRequest:
        return device_pb2.ResumeRequest(device_id=device_id)

    @staticmethod
    def _update_limits_request(device_id: str, limits: Limits) -> device_pb2.UpdateLimitsRequest:
        return device_pb2.UpdateLimitsRequest(
            device_id=device_id,
            limits=device_pb2.Limits(
                max_device_temperature_c=limits.max_device_temperature_c,
                max_thermal_gradient_c_per_mm=limits.max_thermal_gradient_c_per_mm,
                max_power_density_mw_per_mm2=limits.max_power_density_mw_per_mm2,
                interlock_temperature_c=limits.interlock_temperature_c,
                interlock_hysteresis_c=limits.interlock_hysteresis_c,
            ),
        )

    @staticmethod
    def _history_request(
        device_id: str,
        start_device_time_s: float,
        end_device_time_s: float,
        bucket_s: float,
        sensor_ids: Sequence[str] | None,
    ) -> telemetry_pb2.GetHistoryRequest:
        if not (
            math.isfinite(start_device_time_s)
            and math.isfinite(end_device_time_s)
            and start_device_time_s <= end_device_time_s
        ):
            raise ValueError(
                "need finite start_device_time_s <= end_device_time_s, got "
                f"{start_device_time_s!r}, {end_device_time_s!r}"
            )
        if not (math.isfinite(bucket_s) and bucket_s >= 0):
            raise ValueError(f"bucket_s must be >= 0, got {bucket_s!r}")
        return telemetry_pb2.GetHistoryRequest(
            device_id=device_id,
            start_device_time_s=start_device_time_s,
            end_device_time_s=end_device_time_s,
            bucket_s=bucket_s,
            sensor_ids=_sensor_ids(sensor_ids),
        )

    @staticmethod
    def _list_jobs_request(device_id: str, limit: int) -> job_pb2.ListJobsRequest:
        if not 0 < limit < 2**32:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        return job_pb2.ListJobsRequest(device_id=device_id, limit=limit)

    @staticmethod
    def _job_stats_request(device_id: str | None) -> job_pb2.GetJobStatsRequest:
        # The wire's "" means every device; None says the same thing in Python.
        return job_pb2.GetJobStatsRequest(device_id=device_id or "")

    @staticmethod
    def _subscribe_request(
        device_id: str,
        sample_interval_s: float,
        deadband_c: float | None,
        heartbeat_interval_s: float = 0.0,
        suppress_redundant: bool = False,
        updates_only: bool = False,
        sensor_ids: Sequence[str] | None = None,
    ) -> telemetry_pb2.SubscribeRequest:
        """A STREAM subscription: SAMPLE, or ON_CHANGE when ``deadband_c`` is given."""
        if not (math.isfinite(sample_interval_s) and sample_interval_s >= 0):
            raise ValueError(f"sample_interval_s must be >= 0, got {sample_interval_s!r}")
        if not (math.isfinite(heartbeat_interval_s) and heartbeat_interval_s >= 0):
            raise ValueError(f"heartbeat_interval_s must be >= 0, got {heartbeat_interval_s!r}")
        request = telemetry_pb2.SubscribeRequest(
            device_id=device_id,
            mode=telemetry_pb2.SUBSCRIPTION_MODE_SAMPLE,
            sample_interval_s=sample_interval_s,
            list_mode=telemetry_pb2.LIST_MODE_STREAM,
            heartbeat_interval_s=heartbeat_interval_s,
            suppress_redundant=suppress_redundant,
            updates_only=updates_only,
            sensor_ids=_sensor_ids(sensor_ids),
        )
        if deadband_c is not None:
            if not (math.isfinite(deadband_c) and deadband_c >= 0):
                raise ValueError(f"deadband_c must be >= 0, got {deadband_c!r}")
            request.mode = telemetry_pb2.SUBSCRIPTION_MODE_ON_CHANGE
            request.deadband_c = deadband_c
        return request

    @staticmethod
    def _snapshot_request(
        device_id: str, sensor_ids: Sequence[str] | None, list_mode: int
    ) -> telemetry_pb2.SubscribeRequest:
        """A ONCE or POLL subscription: snapshots only."""
        return telemetry_pb2.SubscribeRequest(
            device_id=device_id,
            list_mode=list_mode,  # type: ignore[arg-type]
            sensor_ids=_sensor_ids(sensor_ids),
        )


def _sensor_ids(sensor_ids: Sequence[str] | None) -> list[str]:
    # A lone string would be read as its characters: say so rather than send "s", "0", "0".
    if isinstance(sensor_ids, str):
        raise TypeError(f"sensor_ids must be a sequence of ids, not the string {sensor_ids!r}")
    return list(sensor_ids or ())


def _optimization_level(level: OptimizationLevel | None) -> job_pb2.OptimizationLevel.ValueType:
    # None leaves the field unset: the daemon's default (BALANCED). A plain string such as
    # "fast" is accepted too, for callers that took it from a command line or a config file.
    if level is None:
        return job_pb2.OPTIMIZATION_LEVEL_UNSPECIFIED
    return _OPTIMIZATION_LEVELS[OptimizationLevel(level)]


def _validation_level(level: ValidationLevel | None) -> job_pb2.ValidationLevel.ValueType:
    # None leaves the field unset: the daemon's default (STRICT).
    if level is None:
        return job_pb2.VALIDATION_LEVEL_UNSPECIFIED
    return _VALIDATION_LEVELS[ValidationLevel(level)]


def _graph_proto(graph: TaskGraph) -> job_pb2.TaskGraph:
    # Only unvalidated graphs can fail to encode (a priority beyond int32): report that as a
    # GraphError too, rather than protobuf's bare ValueError.
    try:
        return graph.to_proto()
    except (TypeError, ValueError) as exc:
        raise GraphError("tasks", f"cannot be encoded: {exc}") from exc


class TelemetryDecoder:
    """Turn a Subscribe (or Poll) stream's messages into frames, following its gNMI contract.

    The first message is the layout (anything else is a :class:`ProtocolError`): the sensors
    frames report, in order, and the zones and heaters of their powers and estimates. The sync
    marker ends the initial snapshot (and, when polling, each poll's snapshot) and carries no
    data; batches carry frames. ``dropped_frames`` and ``coalesced_samples`` are the daemon's
    running counts of what this subscriber missed by reading too slowly: frames folded into
    later ones, and readings replaced by newer readings of the same sensor.
    """

    def __init__(self) -> None:
        self.device_id = ""
        self.sensor_ids: tuple[str, ...] | None = None
        self.zone_ids: tuple[str, ...] = ()
        self.heater_ids: tuple[str, ...] = ()
        self.synced = False
        self.dropped_frames = 0
        self.coalesced_samples = 0

    def feed(self, update: telemetry_pb2.TelemetryUpdate) -> list[TelemetryFrame]:
        """Consume one stream message and return the frames it carried, oldest first."""
        # Running totals since the stream began: keep the largest seen, so a message that
        # leaves a field unset cannot make a count go backwards.
        self.dropped_frames = max(self.dropped_frames, update.dropped_frames)
        self.coalesced_samples = max(self.coalesced_samples, update.coalesced_samples)
        kind = update.WhichOneof("kind")
        if kind == "layout":
            if self.sensor_ids is not None:
                raise ProtocolError("telemetry stream sent a second sensor layout")
            self.device_id = update.layout.device_id
            self.sensor_ids = tuple(update.layout.sensor_ids)
            self.zone_ids = tuple(update.layout.zone_ids)
            self.heater_ids = tuple(update.layout.heater_ids)
            return []
        if self.sensor_ids is None:
            raise ProtocolError(f"telemetry stream began with {kind!r}, not the sensor layout")
        if kind == "sync_response":
            self.synced = True
            return []
        if kind == "batch":
            ids, zones, heaters = self.sensor_ids, self.zone_ids, self.heater_ids
            return [
                telemetry_frame_from_proto(frame, ids, zones, heaters)
                for frame in update.batch.frames
            ]
        return []  # a kind added by a newer daemon: nothing this SDK can show


def job_view(view: JobView) -> job_pb2.JobView.ValueType:
    # A plain string such as "basic" is accepted too, as for the levels.
    return _JOB_VIEWS[JobView(view)]
