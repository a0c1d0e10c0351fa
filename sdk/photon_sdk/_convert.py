"""Generated protobuf messages to the SDK's types (:mod:`photon_sdk.types`); no I/O.

Both clients call these, so a field is decoded the same way whichever client read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from photon.v1 import device_pb2, job_pb2, telemetry_pb2

from ._errors import ProtocolError
from .graph import TaskGraph
from .types import (
    Device,
    DeviceHealth,
    DeviceState,
    Heater,
    HistoryBucket,
    Job,
    JobEvent,
    JobProgress,
    JobResult,
    JobState,
    JobStats,
    Lane,
    Layer,
    Limits,
    PlanStatistics,
    Schedule,
    ScheduledTask,
    Sensor,
    SensorState,
    SensorStatus,
    TelemetryFrame,
    TelemetryHistory,
    Zone,
)

__all__ = [
    "device_from_proto",
    "device_state_from_proto",
    "history_from_proto",
    "job_event_from_proto",
    "job_from_proto",
    "job_stats_from_proto",
    "limits_from_proto",
    "schedule_from_proto",
    "telemetry_frame_from_proto",
]

_JOB_STATES = {
    job_pb2.JOB_STATE_QUEUED: JobState.QUEUED,
    job_pb2.JOB_STATE_RUNNING: JobState.RUNNING,
    job_pb2.JOB_STATE_COMPLETED: JobState.COMPLETED,
    job_pb2.JOB_STATE_FAILED: JobState.FAILED,
    job_pb2.JOB_STATE_CANCELLED: JobState.CANCELLED,
}


def _time(stamp: timestamp_pb2.Timestamp) -> datetime:
    # The daemon always sets the times read this way; an unset one decodes as the epoch.
    return stamp.ToDatetime(tzinfo=UTC)


def _optional_time(parent: Message, name: str) -> datetime | None:
    return _time(getattr(parent, name)) if parent.HasField(name) else None


def limits_from_proto(m: device_pb2.Limits) -> Limits:
    """Convert a Limits message."""
    return Limits(
        max_device_temperature_c=m.max_device_temperature_c,
        max_thermal_gradient_c_per_mm=m.max_thermal_gradient_c_per_mm,
        max_power_density_mw_per_mm2=m.max_power_density_mw_per_mm2,
        interlock_temperature_c=m.interlock_temperature_c,
        interlock_hysteresis_c=m.interlock_hysteresis_c,
    )


def device_from_proto(m: device_pb2.Device) -> Device:
    """Convert a Device message."""
    return Device(
        id=m.id,
        model=m.model,
        driver=m.driver,
        die_width_mm=m.die_width_mm,
        die_height_mm=m.die_height_mm,
        layers=tuple(
            Layer(
                name=layer.name,
                thickness_mm=layer.thickness_mm,
                conductivity_w_per_m_k=layer.conductivity_w_per_m_k,
                volumetric_heat_capacity_j_per_m3_k=layer.volumetric_heat_capacity_j_per_m3_k,
            )
            for layer in m.layers
        ),
        die_to_ambient_k_per_w=m.die_to_ambient_k_per_w,
        ambient_c=m.ambient_c,
        heaters=tuple(
            Heater(
                id=h.id,
                x_mm=h.x_mm,
                y_mm=h.y_mm,
                width_mm=h.width_mm,
                height_mm=h.height_mm,
                max_power_mw=h.max_power_mw,
                pi_power_mw=h.pi_power_mw,
                waveguide_length_mm=h.waveguide_length_mm,
            )
            for h in m.heaters
        ),
        zones=tuple(Zone(id=z.id, heater_ids=tuple(z.heater_ids)) for z in m.zones),
        lanes=tuple(
            Lane(id=lane.id, kind=lane.kind, wavelength_nm=lane.wavelength_nm) for lane in m.lanes
        ),
        sensors=tuple(
            Sensor(
                id=s.id,
                x_mm=s.x_mm,
                y_mm=s.y_mm,
                noise_c=s.noise_c,
                resolution_c=s.resolution_c,
                min_sample_period_s=s.min_sample_period_s,
            )
            for s in m.sensors
        ),
        limits=limits_from_proto(m.limits),
        max_optical_power_mw=m.max_optical_power_mw,
    )


def device_state_from_proto(m: device_pb2.DeviceState) -> DeviceState:
    """Convert a DeviceState message; only SERVING counts as serving."""
    return DeviceState(
        device_id=m.device_id,
        serving=m.serving_status == device_pb2.SERVING_STATUS_SERVING,
        device_time_s=m.device_time_s,
        read_at=_time(m.read_at),
        max_temperature_c=m.max_temperature_c,
        mean_temperature_c=m.mean_temperature_c,
        total_heater_power_mw=m.total_heater_power_mw,
        active_job_id=m.active_job_id,
        running_task_ids=tuple(m.running_task_ids),
        queued_jobs=m.queued_jobs,
        interlock_tripped=m.interlock_tripped,
        emergency_stopped=m.emergency_stopped,
        not_serving_reason=m.not_serving_reason,
        health=health_from_proto(m.health) if m.HasField("health") else None,
    )


def health_from_proto(m: device_pb2.DeviceHealth) -> DeviceHealth:
    return DeviceHealth(score=m.score, reasons=tuple(m.reasons))


def _scheduled_tasks(tasks: Iterable[job_pb2.ScheduledTask]) -> tuple[ScheduledTask, ...]:
    return tuple(
        ScheduledTask(task_id=t.task_id, lane_id=t.lane_id, start_s=t.start_s, end_s=t.end_s)
        for t in tasks
    )


def schedule_from_proto(m: job_pb2.Schedule) -> Schedule:
    """Convert a Schedule message."""
    return Schedule(
        tasks=_scheduled_tasks(m.tasks),
        makespan_s=m.makespan_s,
        predicted_peak_temperature_c=m.predicted_peak_temperature_c,
        lower_bound_s=m.lower_bound_s,
        gap_to_bound=m.gap_to_bound,
        planner=m.planner,
        planning_time_s=m.planning_time_s,
        predicted_peak_gradient_c_per_mm=m.predicted_peak_gradient_c_per_mm,
        predicted_aging_hours=m.predicted_aging_hours,
        statistics=PlanStatistics(
            optimization_level=m.statistics.optimization_level,
            replicas=m.statistics.replicas,
            rounds=m.statistics.rounds,
            evaluations=m.statistics.evaluations,
            evaluations_per_s=m.statistics.evaluations_per_s,
            search_time_s=m.statistics.search_time_s,
        )
        if m.HasField("statistics")
        else None,
    )


def _result(m: job_pb2.JobResult) -> JobResult:
    return JobResult(
        tasks=_scheduled_tasks(m.tasks),
        makespan_s=m.makespan_s,
        peak_temperature_c=m.peak_temperature_c,
        energy_mj=m.energy_mj,
    )


def job_from_proto(m: job_pb2.Job) -> Job:
    """Convert a Job message; an unknown job state is a :class:`ProtocolError`."""
    state = _JOB_STATES.get(m.state)
    if state is None:
        raise ProtocolError(f"job {m.id!r} has unknown state {m.state} (newer daemon?)")
    return Job(
        id=m.id,
        name=m.name,
        device_id=m.device_id,
        state=state,
        submitted_at=_optional_time(m, "submitted_at"),
        started_at=_optional_time(m, "started_at"),
        finished_at=_optional_time(m, "finished_at"),
        device_start_time_s=m.device_start_time_s,
        device_end_time_s=m.device_end_time_s,
        graph=TaskGraph.from_proto(m.graph, name=m.name),
        schedule=schedule_from_proto(m.schedule) if m.HasField("schedule") else None,
        result=_result(m.result) if m.HasField("result") else None,
        failure_reason=m.failure_reason,
        request_id=m.request_id,
        # A daemon from before task_count sends whole graphs.
        task_count=m.task_count or len(m.graph.tasks),
    )


def job_stats_from_proto(m: job_pb2.JobStats) -> JobStats:
    """Convert a JobStats message."""
    return JobStats(
        submitted=m.submitted,
        completed=m.completed,
        failed=m.failed,
        cancelled=m.cancelled,
        planning_time_total_s=m.planning_time_total_s,
    )


def job_event_from_proto(m: job_pb2.JobEvent) -> JobEvent | None:
    """Convert a JobEvent; None for a kind this SDK does not know (a newer daemon's)."""
    kind = m.WhichOneof("kind")
    event = partial(
        JobEvent,
        job_id=m.job_id,
        sequence=m.sequence,
        device_time_s=m.device_time_s,
        time=_time(m.time),
    )
    if kind == "planned":
        return event(kind="planned", schedule=schedule_from_proto(m.planned.schedule))
    if kind == "job_started":
        return event(kind="job_started")
    if kind == "task_started":
        started = m.task_started
        return event(
            kind="task_started",
            task_id=started.task_id,
            lane_id=started.lane_id,
            job_time_s=started.start_s,
        )
    if kind == "task_finished":
        finished = m.task_finished
        return event(
            kind="task_finished",
            task_id=finished.task_id,
            lane_id=finished.lane_id,
            job_time_s=finished.end_s,
        )
    if kind == "completed":
        return event(kind="completed", result=_result(m.completed.result))
    if kind == "failed":
        return event(kind="failed", reason=m.failed.reason)
    if kind == "cancelled":
        return event(kind="cancelled")
    if kind == "replanned":
        return event(
            kind="replanned",
            reason=m.replanned.reason,
            schedule=schedule_from_proto(m.replanned.schedule),
            predicted_peak_temperature_c=m.replanned.predicted_peak_temperature_c,
        )
    if kind == "held":
        return event(kind="held", reason=m.held.reason)
    if kind == "resumed":
        resumed = m.resumed
        if not resumed.after_restart:
            return event(kind="resumed", reason=resumed.reason)
        return event(
            kind="resumed",
            reason=resumed.reason,
            after_restart=True,
            tasks_done=resumed.tasks_done,
            tasks_rerun=resumed.tasks_rerun,
            tasks_cut_off=resumed.tasks_cut_off,
        )
    return None


_SENSOR_STATES = {
    telemetry_pb2.SENSOR_STATE_OK: SensorState.OK,
    telemetry_pb2.SENSOR_STATE_DISTRUSTED: SensorState.DISTRUSTED,
    telemetry_pb2.SENSOR_STATE_FAILED: SensorState.FAILED,
}


def telemetry_frame_from_proto(
    m: telemetry_pb2.TelemetryFrame,
    sensor_ids: tuple[str, ...],
    zone_ids: tuple[str, ...] = (),
    heater_ids: tuple[str, ...] = (),
) -> TelemetryFrame:
    """Convert a frame, pairing readings with the stream's layout (sensors, zones, heaters)."""
    if m.partial or m.sensor_index:
        if len(m.sensor_index) != len(m.temperature_c) or any(
            i >= len(sensor_ids) for i in m.sensor_index
        ):
            raise ProtocolError("telemetry frame's sensor_index does not match its readings")
        ids = tuple(sensor_ids[i] for i in m.sensor_index)
    else:
        ids = sensor_ids
    if len(m.temperature_c) != len(ids):
        raise ProtocolError(
            f"telemetry frame has {len(m.temperature_c)} readings for {len(ids)} sensors"
        )
    collected = {}
    if m.collected_device_time_s:
        if len(m.collected_device_time_s) != len(ids):
            raise ProtocolError("telemetry frame's collection times do not match its readings")
        collected = dict(zip(ids, m.collected_device_time_s, strict=True))
    return TelemetryFrame(
        device_time_s=m.device_time_s,
        read_at=_time(m.read_at),
        temperature_c=dict(zip(ids, m.temperature_c, strict=True)),
        total_heater_power_mw=m.total_heater_power_mw,
        partial=m.partial or len(ids) < len(sensor_ids),
        collected_device_time_s=collected,
        sensor_status={
            s.sensor_id: SensorStatus(
                s.sensor_id, _SENSOR_STATES.get(s.state, SensorState.OK), s.reason
            )
            for s in m.sensor_status
        },
        zone_power_mw=dict(zip(zone_ids, m.zone_power_mw, strict=False)),
        estimated_heater_temperature_c=dict(
            zip(heater_ids, m.estimated_heater_temperature_c, strict=False)
        ),
        job=_job_progress(m.job) if m.HasField("job") else None,
        health=health_from_proto(m.health) if m.HasField("health") else None,
        loop_lateness_s=m.loop_lateness_s,
    )


def _job_progress(m: telemetry_pb2.JobProgress) -> JobProgress:
    return JobProgress(
        job_id=m.job_id,
        tasks_done=m.tasks_done,
        tasks_total=m.tasks_total,
        replans=m.replans,
        predicted_peak_temperature_c=m.predicted_peak_temperature_c,
    )


def history_from_proto(m: telemetry_pb2.GetHistoryResponse, device_id: str) -> TelemetryHistory:
    """Convert a GetHistory answer (its layout names the sensors of frames and buckets)."""
    ids = tuple(m.layout.sensor_ids)
    for bucket in m.buckets:
        if not len(bucket.min_c) == len(bucket.max_c) == len(bucket.mean_c) == len(ids):
            raise ProtocolError("history bucket's figures do not match its layout")
    return TelemetryHistory(
        device_id=m.layout.device_id or device_id,
        sensor_ids=ids,
        bucket_s=m.bucket_s,
        retained_from_device_time_s=m.retained_from_device_time_s,
        buckets=tuple(
            HistoryBucket(
                start_device_time_s=b.start_device_time_s,
                samples=b.samples,
                min_c=dict(zip(ids, b.min_c, strict=True)),
                max_c=dict(zip(ids, b.max_c, strict=True)),
                mean_c=dict(zip(ids, b.mean_c, strict=True)),
            )
            for b in m.buckets
        ),
        frames=tuple(telemetry_frame_from_proto(f, ids) for f in m.frames),
    )
