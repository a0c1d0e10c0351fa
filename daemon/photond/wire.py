"""Every conversion between photond's own types and photon.v1 messages, in one place.

The job book journals plans and results as wire messages, the RPC layer answers with them, and
telemetry streams them: each builds its messages here, so a field added to the proto is filled
(and read back from the journal) in one function rather than wherever a message is made.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from google.protobuf import timestamp_pb2
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from photon.v1 import device_pb2, job_pb2, telemetry_pb2
from photon_drivers.profile import DeviceProfile, LimitsSpec
from photond.planning.plan import Plan, PlannedTask


class HealthLike(Protocol):
    """A device's health (`photond.loop.health.Health`)."""

    @property
    def score(self) -> float: ...
    @property
    def reasons(self) -> Sequence[str]: ...


class Progress(Protocol):
    """The running job's progress (`photond.loop.frame.JobProgress`)."""

    @property
    def job_id(self) -> str: ...
    @property
    def tasks_done(self) -> int: ...
    @property
    def tasks_total(self) -> int: ...
    @property
    def replans(self) -> int: ...
    @property
    def predicted_peak_temperature_c(self) -> float: ...


class Sample(Protocol):
    """What a telemetry frame is made of (`photond.loop.frame.Frame`; a protocol, so that
    this module, below the job book, does not import the loop)."""

    @property
    def device_time_s(self) -> float: ...
    @property
    def wall_time_s(self) -> float: ...
    @property
    def temperature_c(self) -> Sequence[float]: ...
    @property
    def total_heater_power_mw(self) -> float: ...


class FullSample(Sample, Protocol):
    """A frame as the device loop takes it: readings and everything telemetry shows beside."""

    @property
    def zone_power_mw(self) -> Sequence[float]: ...
    @property
    def estimated_heater_temperature_c(self) -> Sequence[float]: ...
    @property
    def sensor_status(self) -> Sequence[tuple[int, str, str, str]]: ...
    @property
    def job(self) -> Progress | None: ...
    @property
    def health(self) -> HealthLike: ...
    @property
    def loop_lateness_s(self) -> float: ...
    @property
    def encoded(self) -> dict[object, bytes]: ...


def request_digest(request: job_pb2.SubmitJobRequest) -> str:
    """SHA-256 (hex) of what a submission asks for, its idempotency key and the view of the
    answer it wants left out: a retry carries the same digest (whichever view it asks for),
    another request under the same key does not. Deterministic serialisation orders map
    entries (heater powers), so equal requests hash equally."""
    copy = job_pb2.SubmitJobRequest()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    copy.ClearField("view")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


def length_delimited(field_number: int, payload: bytes) -> bytes:
    """The wire bytes of a message field numbered `field_number` holding the serialized
    message `payload`: appended to a message's bytes, it sets that field.

    Lets a large message be assembled from parts serialized elsewhere (the planning pool's
    schedule) by concatenation, which copies bytes without holding the interpreter for the
    tens of milliseconds a protobuf copy or serialisation of 100k tasks takes.

    Joined, not added: `bytes + bytes` copies with the interpreter held, and `bytes.join`
    lets it go while it copies a result of 1 MiB or more. A new 5 MB block's pages are faulted
    in by that copy, 3-8 ms on the 2-core test machine, which the device loop waited out.
    """
    return b"".join(
        (_varint(field_number << 3 | _LENGTH_DELIMITED), _varint(len(payload)), payload)
    )


_LENGTH_DELIMITED = 2  # protobuf wire type of messages, strings and bytes
# Bytes after a record's key, by wire type (varint and length-delimited are read).
_FIXED_BYTES = {1: 8, 5: 4}
# More top-level records than this and `top_level_fields` leaves the body to the parser.
MAX_TOP_LEVEL_RECORDS = 256


def top_level_fields(body: bytes, numbers: Collection[int]) -> bytes | None:
    """The records of `body` (a serialized message) whose field number is in `numbers`, in
    order: a message of those fields alone. None when the body is not a plain sequence of
    records (truncated, a group, field number 0, or more than `MAX_TOP_LEVEL_RECORDS`): parse
    it whole then, which names what is wrong.

    For a header read of a large request (`rpc.handlers`): protobuf keeps the fields it does
    not know as a copy, and copying a 100k-task graph's 10 MB into new memory held the
    interpreter (and the device loop) 6 ms under `perf`. Only the records kept are copied.
    """
    kept: list[bytes] = []
    at, end = 0, len(body)
    try:
        for _ in range(MAX_TOP_LEVEL_RECORDS):
            if at == end:
                return b"".join(kept)
            start = at
            key, at = _read_varint(body, at)
            wire_type, number = key & 7, key >> 3
            if wire_type == 0:
                _, at = _read_varint(body, at)
            elif wire_type == _LENGTH_DELIMITED:
                length, at = _read_varint(body, at)
                at += length
            elif wire_type in _FIXED_BYTES:
                at += _FIXED_BYTES[wire_type]
            else:
                return None
            if at > end or number == 0:
                return None
            if number in numbers:
                kept.append(body[start:at])
    except _Malformed:
        return None
    return None


class _Malformed(Exception):
    """A varint runs off the end of the body or past ten bytes."""


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    """(value, index after it) of the varint at `at`."""
    value = shift = 0
    for index in range(at, min(at + 10, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise _Malformed


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def timestamp(wall_s: float) -> timestamp_pb2.Timestamp:
    """A wall-clock time (seconds since the epoch) as a protobuf Timestamp."""
    # Whole seconds apart from the fraction: a float of ~1.7e18 ns would round to 256 ns.
    seconds = math.floor(wall_s)
    nanos = min(round((wall_s - seconds) * 1e9), 999_999_999)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def plan_to_proto(plan: Plan) -> job_pb2.Schedule:
    """A plan as the Schedule message SubmitJob, PlanJob, job events and the journal carry."""
    schedule = job_pb2.Schedule(
        makespan_s=plan.makespan_s,
        predicted_peak_temperature_c=plan.predicted_peak_temperature_c,
        lower_bound_s=plan.lower_bound_s,
        gap_to_bound=plan.gap_to_bound,
        planner=plan.planner,
        planning_time_s=plan.planning_time_s,
        predicted_peak_gradient_c_per_mm=plan.predicted_peak_gradient_c_per_mm,
        predicted_aging_hours=plan.aging_hours,
    )
    _add_scheduled(schedule.tasks, plan.tasks)
    stats = plan.statistics
    if stats is not None:
        schedule.statistics.CopyFrom(
            job_pb2.PlanStatistics(
                optimization_level=stats.level,
                replicas=stats.replicas,
                rounds=stats.rounds,
                evaluations=stats.evaluations,
                evaluations_per_s=stats.evaluations_per_s,
                search_time_s=stats.elapsed_s,
            )
        )
    return schedule


def job_result(
    ran: Sequence[PlannedTask], *, makespan_s: float, peak_temperature_c: float, energy_mj: float
) -> job_pb2.JobResult:
    """What a job did (the tasks as they ran, job-relative) as the JobResult it ends with."""
    result = job_pb2.JobResult(
        makespan_s=makespan_s, peak_temperature_c=peak_temperature_c, energy_mj=energy_mj
    )
    _add_scheduled(result.tasks, ran)
    return result


def replanned_event(reason: str, plan: Plan) -> bytes:
    """A re-plan's event body (JobReplanned: why, and the plan the tasks not yet started now
    follow), serialized: `JobBook.replanned` appends it to the event's other fields. Built
    where the re-plan was computed: for a 100k-task plan it is 0.3-0.4 s of Python (a message
    per task), which on the device loop's thread was a third of a re-plan's cost."""
    return job_pb2.JobReplanned(
        reason=reason,
        schedule=plan_to_proto(plan),
        predicted_peak_temperature_c=plan.predicted_peak_temperature_c,
    ).SerializeToString()


def plan_from_proto(schedule: job_pb2.Schedule) -> Plan:
    """A journaled Schedule back as a plan, so that a restart runs what was acknowledged (the
    search statistics are not kept: they describe a search that is over)."""
    return Plan(
        tasks=tuple(PlannedTask(t.task_id, t.lane_id, t.start_s, t.end_s) for t in schedule.tasks),
        makespan_s=schedule.makespan_s,
        lower_bound_s=schedule.lower_bound_s,
        planner=schedule.planner,
        planning_time_s=schedule.planning_time_s,
        predicted_peak_temperature_c=schedule.predicted_peak_temperature_c,
        predicted_peak_gradient_c_per_mm=schedule.predicted_peak_gradient_c_per_mm,
        aging_hours=schedule.predicted_aging_hours,
    )


def describe_profile(device_id: str, driver_name: str, profile: DeviceProfile) -> device_pb2.Device:
    """A device's profile as the Device message ListDevices and GetDevice answer."""
    limits = profile.limits
    return device_pb2.Device(
        id=device_id,
        model=profile.model,
        driver=driver_name,
        die_width_mm=profile.die_width_mm,
        die_height_mm=profile.die_height_mm,
        layers=[
            device_pb2.Layer(
                name=layer.name,
                thickness_mm=layer.thickness_mm,
                conductivity_w_per_m_k=layer.conductivity_w_per_m_k,
                volumetric_heat_capacity_j_per_m3_k=layer.volumetric_heat_capacity_j_per_m3_k,
            )
            for layer in profile.layers
        ],
        die_to_ambient_k_per_w=profile.package.die_to_ambient_k_per_w,
        ambient_c=profile.ambient_c,
        heaters=[
            device_pb2.Heater(
                id=h.id,
                x_mm=h.x_mm,
                y_mm=h.y_mm,
                width_mm=h.width_mm,
                height_mm=h.height_mm,
                max_power_mw=h.max_power_mw,
                pi_power_mw=h.pi_power_mw,
                waveguide_length_mm=h.waveguide_length_mm,
            )
            for h in profile.heaters
        ],
        zones=[device_pb2.Zone(id=z.id, heater_ids=z.heater_ids) for z in profile.zones],
        lanes=[
            device_pb2.Lane(id=lane.id, kind=lane.kind, wavelength_nm=lane.wavelength_nm)
            for lane in profile.lanes
        ],
        sensors=[
            device_pb2.Sensor(
                id=s.id,
                x_mm=s.x_mm,
                y_mm=s.y_mm,
                noise_c=s.noise_c,
                resolution_c=s.resolution_c,
                min_sample_period_s=s.min_sample_period_s,
            )
            for s in profile.sensors
        ],
        limits=device_pb2.Limits(
            max_device_temperature_c=limits.max_device_temperature_c,
            max_thermal_gradient_c_per_mm=limits.max_thermal_gradient_c_per_mm,
            max_power_density_mw_per_mm2=limits.max_power_density_mw_per_mm2,
            interlock_temperature_c=limits.interlock_temperature_c,
            interlock_hysteresis_c=limits.interlock_hysteresis_c,
        ),
        max_optical_power_mw=profile.max_optical_power_mw,
    )


def frame_to_proto(frame: Sample) -> telemetry_pb2.TelemetryFrame:
    """One telemetry sample's readings as a frame (GetHistory's samples)."""
    message = telemetry_pb2.TelemetryFrame(
        device_time_s=frame.device_time_s,
        temperature_c=frame.temperature_c,
        total_heater_power_mw=frame.total_heater_power_mw,
    )
    message.read_at.CopyFrom(timestamp(frame.wall_time_s))
    return message


_SENSOR_STATES = {
    "distrusted": telemetry_pb2.SENSOR_STATE_DISTRUSTED,
    "failed": telemetry_pb2.SENSOR_STATE_FAILED,
}


def health_to_proto(health: HealthLike) -> device_pb2.DeviceHealth:
    return device_pb2.DeviceHealth(score=health.score, reasons=health.reasons)


def live_frame_to_proto(
    frame: FullSample,
    selection: Sequence[int] | None = None,
    positions: Sequence[int] | None = None,
    readings: Mapping[int, tuple[float, float]] | None = None,
) -> telemetry_pb2.TelemetryFrame:
    """A frame as Subscribe streams it, for a subscriber's view.

    Args:
        selection: profile sensor indices in the subscriber's layout order (None: all).
        positions: the layout positions carried (None: all); a sparse frame says which.
        readings: layout position -> (reading, collection time) of readings a coalesced frame
            kept from an older sample; the rest come from `frame`.
    """
    temps = frame.temperature_c
    layout = range(len(temps)) if selection is None else selection
    carried = range(len(layout)) if positions is None else positions
    values = [temps[layout[p]] for p in carried]
    message = telemetry_pb2.TelemetryFrame(
        device_time_s=frame.device_time_s,
        temperature_c=values,
        total_heater_power_mw=frame.total_heater_power_mw,
        zone_power_mw=frame.zone_power_mw,
        estimated_heater_temperature_c=frame.estimated_heater_temperature_c,
        health=health_to_proto(frame.health),
        loop_lateness_s=frame.loop_lateness_s,
    )
    if positions is not None:
        message.partial = True
        message.sensor_index.extend(positions)
    if readings:
        times = [frame.device_time_s] * len(values)
        for i, p in enumerate(carried):
            if p in readings:
                values[i], times[i] = readings[p]
        message.ClearField("temperature_c")
        message.temperature_c.extend(values)
        message.collected_device_time_s.extend(times)
    position_of = {index: p for p, index in enumerate(layout)}
    for index, sensor_id, state, reason in frame.sensor_status:
        if index in position_of:
            message.sensor_status.append(
                telemetry_pb2.SensorStatus(
                    sensor_id=sensor_id, state=_SENSOR_STATES[state], reason=reason
                )
            )
    job = frame.job
    if job is not None:
        message.job.CopyFrom(
            telemetry_pb2.JobProgress(
                job_id=job.job_id,
                tasks_done=job.tasks_done,
                tasks_total=job.tasks_total,
                replans=job.replans,
                predicted_peak_temperature_c=job.predicted_peak_temperature_c,
            )
        )
    message.read_at.CopyFrom(timestamp(frame.wall_time_s))
    return message


def frame_bytes(frame: FullSample, selection: tuple[int, ...] | None = None) -> bytes:
    """A whole frame of the view `selection` as an item of a batch (`batch_item`), serialised
    and framed once: every subscriber of the same view gets these very bytes (the first to
    need them pays; they stay with the frame)."""
    cached = frame.encoded.get(selection)
    if cached is None:
        cached = batch_item(live_frame_to_proto(frame, selection).SerializeToString())
        frame.encoded[selection] = cached
    return cached


def batch_item(frame: bytes) -> bytes:
    """A serialised TelemetryFrame framed as one of a TelemetryBatch's frames."""
    return length_delimited(1, frame)


def update_bytes(items: Sequence[bytes], dropped_frames: int, coalesced_samples: int) -> bytes:
    """A TelemetryUpdate carrying a batch of frames, assembled from their items' bytes
    (`batch_item`, `frame_bytes`: framed once per frame and view, not per subscriber)."""
    batch = b"".join(items)
    tail = b""
    if dropped_frames:
        tail += _varint(10 << 3) + _varint(dropped_frames)
    if coalesced_samples:
        tail += _varint(11 << 3) + _varint(coalesced_samples)
    return length_delimited(2, batch) + tail


def _add_scheduled(
    field: RepeatedCompositeFieldContainer[job_pb2.ScheduledTask], tasks: Sequence[PlannedTask]
) -> None:
    """Append `tasks` to a repeated ScheduledTask field, one `add` each.

    Not a list of messages handed to the constructor: that built each message apart, then
    copied them all in one C call that held the interpreter (35 ms for 100k tasks on a loaded
    machine, the device loop's thread waiting on it), and took 3x the time in all
    (benchmarks/wire_tasks.py). An `add` holds it for microseconds.
    """
    add = field.add
    for t in tasks:
        add(task_id=t.task_id, lane_id=t.lane_id, start_s=t.start_s, end_s=t.end_s)


def limits_to_proto(limits: LimitsSpec) -> device_pb2.Limits:
    """A device's operating limits (the profile's, or those UpdateLimits set) on the wire."""
    return device_pb2.Limits(
        max_device_temperature_c=limits.max_device_temperature_c,
        max_thermal_gradient_c_per_mm=limits.max_thermal_gradient_c_per_mm,
        max_power_density_mw_per_mm2=limits.max_power_density_mw_per_mm2,
        interlock_temperature_c=limits.interlock_temperature_c,
        interlock_hysteresis_c=limits.interlock_hysteresis_c,
    )
