"""The SDK's own value types: what the daemon reports, without generated protobuf classes.

Generated message classes change shape with the protobuf runtime and are awkward to type;
these frozen dataclasses are the stable public surface. Units are in field names (``_c``
degrees Celsius, ``_mm`` millimetres, ``_mw`` milliwatts, ``_mj`` millijoules, ``_s`` seconds,
``_nm`` nanometres). Wall-clock times are timezone-aware UTC datetimes; ``device_time_s`` is
the device clock, which jobs and telemetry share. Conversions live in ``_convert``.

Every type has ``to_dict()``: a JSON-ready dict keyed by the field names (so the units stay in
the keys), times as ISO 8601 strings, enums as their values, a job's graph in the task-graph
file format, and non-finite numbers as None (JSON has no NaN).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .graph import TaskGraph

__all__ = [
    "Device",
    "DeviceHealth",
    "DeviceState",
    "Heater",
    "HistoryBucket",
    "Job",
    "JobEvent",
    "JobEventKind",
    "JobProgress",
    "JobResult",
    "JobState",
    "JobStats",
    "JobView",
    "Lane",
    "Layer",
    "Limits",
    "OptimizationLevel",
    "PlanStatistics",
    "Schedule",
    "ScheduledTask",
    "Sensor",
    "SensorState",
    "SensorStatus",
    "TelemetryFrame",
    "TelemetryHistory",
    "ValidationLevel",
    "Zone",
]


def _plain(value: object) -> Any:
    """``value`` as JSON-ready data (see the module docstring)."""
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, TaskGraph):
        return value.to_dict()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


class _Record:
    """What the SDK's dataclasses share: a JSON-ready ``to_dict()``."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-ready data, keyed by field name (units in the keys)."""
        fields = dataclasses.fields(self)  # type: ignore[arg-type]  # every subclass is one
        return {f.name: _plain(getattr(self, f.name)) for f in fields}


class OptimizationLevel(enum.StrEnum):
    """How hard the planner searches before answering a submit or a plan.

    FAST takes the first feasible schedule (no search); BALANCED searches about 1 s (the
    daemon's default); QUALITY about 5 s, for a shorter makespan.
    """

    FAST = "fast"
    BALANCED = "balanced"
    QUALITY = "quality"


class ValidationLevel(enum.StrEnum):
    """How much the daemon checks a plan before running it.

    BASIC checks the graph's structure only; STRICT (the daemon's default) also re-reads the
    thermal model's prediction of the plan against the limits; PARANOID also runs the
    independent validator on every plan.
    """

    BASIC = "basic"
    STRICT = "strict"
    PARANOID = "paranoid"


class JobView(enum.StrEnum):
    """How much of a job :meth:`Client.submit_job`, :meth:`Client.get_job` and
    :meth:`Client.cancel_job` bring back.

    FULL is the whole job. BASIC is the job as :meth:`Client.list_jobs` shows it: its state,
    times and figures, without the tasks of its graph, schedule and result (``task_count``
    says how many). A 100k-task job is ~10 MB whole, which the daemon copies for every answer
    and the client parses; a submitter that has the graph already can ask for BASIC.
    """

    FULL = "full"
    BASIC = "basic"


@dataclass(frozen=True)
class Heater(_Record):
    """A thermo-optic phase shifter; position is its centre from the die's lower-left corner."""

    id: str
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    max_power_mw: float
    pi_power_mw: float
    waveguide_length_mm: float


@dataclass(frozen=True)
class Zone(_Record):
    """Heaters a task drives together; a zone's power is split evenly among them."""

    id: str
    heater_ids: tuple[str, ...]


@dataclass(frozen=True)
class Lane(_Record):
    """Something that runs one task at a time; ``wavelength_nm`` is 0 for non-wavelength."""

    id: str
    kind: str
    wavelength_nm: float


@dataclass(frozen=True)
class Sensor(_Record):
    """An on-die temperature sensor."""

    id: str
    x_mm: float
    y_mm: float
    noise_c: float
    resolution_c: float
    min_sample_period_s: float


@dataclass(frozen=True)
class Layer(_Record):
    """One layer of the die's vertical stack, top (heaters) first."""

    name: str
    thickness_mm: float
    conductivity_w_per_m_k: float
    volumetric_heat_capacity_j_per_m3_k: float


@dataclass(frozen=True)
class Limits(_Record):
    """Operating limits every plan respects; the interlock is the hard stop beyond them."""

    max_device_temperature_c: float
    max_thermal_gradient_c_per_mm: float
    max_power_density_mw_per_mm2: float
    interlock_temperature_c: float
    interlock_hysteresis_c: float


@dataclass(frozen=True)
class Device(_Record):
    """A full description of one chip, as the daemon's profile gives it."""

    id: str
    model: str
    driver: str
    die_width_mm: float
    die_height_mm: float
    layers: tuple[Layer, ...]
    die_to_ambient_k_per_w: float
    ambient_c: float
    heaters: tuple[Heater, ...]
    zones: tuple[Zone, ...]
    lanes: tuple[Lane, ...]
    sensors: tuple[Sensor, ...]
    limits: Limits
    max_optical_power_mw: float


@dataclass(frozen=True)
class DeviceHealth(_Record):
    """How well a device is doing: ``score`` in [0, 1] (1: nothing wrong) and what lowered it.

    The score is the product of one factor per concern: the fraction of sensors trusted, the
    circuit breaker (open 0, half-open 0.5), the interlock (tripped 0), thermal headroom (the
    estimated hottest spot's distance below the limit, over 10 °C, at most 1) and control-loop
    lateness. ``reasons`` has a line per factor below 1.
    """

    score: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeviceState(_Record):
    """A device's live state at ``read_at``; ``not_serving_reason`` is empty while serving."""

    device_id: str
    serving: bool
    device_time_s: float
    read_at: datetime
    max_temperature_c: float
    mean_temperature_c: float
    total_heater_power_mw: float
    active_job_id: str
    running_task_ids: tuple[str, ...]
    queued_jobs: int
    interlock_tripped: bool
    emergency_stopped: bool
    not_serving_reason: str
    # None from a daemon that does not report health.
    health: DeviceHealth | None = None


class JobState(enum.StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change: completed, failed or cancelled."""
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class ScheduledTask(_Record):
    """When and on which lane a task runs (planned) or ran (actual), after the job's start."""

    task_id: str
    lane_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class PlanStatistics(_Record):
    """What a plan's search cost (the optimizer's parallel tempering)."""

    optimization_level: str
    replicas: int
    rounds: int
    evaluations: int
    evaluations_per_s: float
    search_time_s: float


@dataclass(frozen=True)
class Schedule(_Record):
    """A plan, with what the planner predicts of it.

    ``predicted_peak_temperature_c`` is 0 when the planner made no prediction;
    ``gap_to_bound`` is ``(makespan_s - lower_bound_s) / lower_bound_s``.
    """

    tasks: tuple[ScheduledTask, ...]
    makespan_s: float
    predicted_peak_temperature_c: float
    lower_bound_s: float
    gap_to_bound: float
    planner: str
    planning_time_s: float
    predicted_peak_gradient_c_per_mm: float = 0.0
    predicted_aging_hours: float = 0.0
    # None for plans the optimizer did not search (e.g. a re-timed re-plan).
    statistics: PlanStatistics | None = None


@dataclass(frozen=True)
class JobResult(_Record):
    """What happened when a job ran: actual task times, peak sensor reading, heater energy."""

    tasks: tuple[ScheduledTask, ...]
    makespan_s: float
    peak_temperature_c: float
    energy_mj: float


@dataclass(frozen=True)
class Job(_Record):
    """A submitted job. Times the job has not reached yet are None; so are a missing
    schedule and result."""

    id: str
    name: str
    device_id: str
    state: JobState
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    device_start_time_s: float
    device_end_time_s: float
    graph: TaskGraph
    schedule: Schedule | None
    result: JobResult | None
    failure_reason: str
    # The idempotency key it was submitted with ("" for none): pass it again to retry.
    request_id: str = ""
    # Tasks in its graph; `list_jobs` answers jobs without their tasks but with this count.
    task_count: int = 0

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change."""
        return self.state.is_terminal


@dataclass(frozen=True)
class JobStats(_Record):
    """Counts over the jobs a daemon has journaled (one device's or every device's).

    ``submitted`` counts every journaled job whatever its state; the jobs still queued or
    running are ``submitted - completed - failed - cancelled``. ``planning_time_total_s`` is
    the wall time the daemon spent planning them (each job's schedule's ``planning_time_s``).
    The counts come from the daemon's journal, so they survive its restarts.
    """

    submitted: int
    completed: int
    failed: int
    cancelled: int
    planning_time_total_s: float


#: The kinds of :class:`JobEvent`, in the order a successful job produces them.
#: ``replanned``, ``held`` and ``resumed`` come from the daemon's closed loop.
JobEventKind = Literal[
    "planned",
    "job_started",
    "task_started",
    "task_finished",
    "replanned",
    "held",
    "resumed",
    "completed",
    "failed",
    "cancelled",
]

_TERMINAL_KINDS = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class JobEvent(_Record):
    """One thing that happened to a job; a job's events are numbered from 1 without gaps.

    Fields that do not apply to ``kind`` are empty (``""``/None): ``task_id``, ``lane_id`` and
    ``job_time_s`` (seconds after the job's start: start for task_started, end for
    task_finished) for task events; ``schedule`` for planned and replanned (for replanned:
    the tasks not yet started); ``result`` for completed; ``reason`` for failed, replanned,
    held and resumed; ``predicted_peak_temperature_c`` for replanned. A resumed event with
    ``after_restart`` says the job was running when photond stopped and went on after its
    restart: ``tasks_done`` tasks had finished and stay done, ``tasks_rerun`` run from then on
    (of which ``tasks_cut_off`` had started and run again from their start).
    """

    job_id: str
    sequence: int
    kind: JobEventKind
    device_time_s: float
    time: datetime
    task_id: str = ""
    lane_id: str = ""
    job_time_s: float | None = None
    reason: str = ""
    schedule: Schedule | None = None
    result: JobResult | None = None
    predicted_peak_temperature_c: float | None = None
    after_restart: bool = False
    tasks_done: int | None = None
    tasks_rerun: int | None = None
    tasks_cut_off: int | None = None

    @property
    def is_terminal(self) -> bool:
        """True for the job's last event: completed, failed or cancelled."""
        return self.kind in _TERMINAL_KINDS


class SensorState(enum.StrEnum):
    """Whether the daemon trusts a sensor's reading."""

    OK = "ok"
    #: A number, but the daemon's observer rejected it (out of range, stuck, a jump).
    DISTRUSTED = "distrusted"
    #: No reading: the sensor reports not-a-number.
    FAILED = "failed"


@dataclass(frozen=True)
class SensorStatus(_Record):
    """A sensor that is not OK, and the daemon's reason."""

    sensor_id: str
    state: SensorState
    reason: str


@dataclass(frozen=True)
class JobProgress(_Record):
    """The job running when a frame was taken."""

    job_id: str
    tasks_done: int
    tasks_total: int
    # Times the daemon's closed loop re-planned it so far.
    replans: int
    # The predicted peak of the plan it follows now (its latest re-plan's).
    predicted_peak_temperature_c: float


@dataclass(frozen=True)
class TelemetryFrame(_Record):
    """Sensor readings at one instant, and what the daemon knew then.

    ``temperature_c`` maps sensor id to reading, in layout order. A frame of an ON_CHANGE or
    ``suppress_redundant`` subscription carries only the sensors it reports (``partial``).
    ``collected_device_time_s`` is empty when every reading was collected at
    ``device_time_s``; a frame the daemon coalesced from several samples (a slow reader)
    gives each reading's own collection time there. ``estimated_heater_temperature_c`` is
    ESTIMATED, not measured: the daemon's observer at each heater's footprint, the hot spots
    no sensor sees. ``sensor_status`` lists only the sensors that are not OK.
    """

    device_time_s: float
    read_at: datetime
    temperature_c: dict[str, float]
    total_heater_power_mw: float
    partial: bool = False
    collected_device_time_s: dict[str, float] = field(default_factory=dict)
    sensor_status: dict[str, SensorStatus] = field(default_factory=dict)
    zone_power_mw: dict[str, float] = field(default_factory=dict)
    estimated_heater_temperature_c: dict[str, float] = field(default_factory=dict)
    # None while the device is idle.
    job: JobProgress | None = None
    # None from a daemon that does not report health.
    health: DeviceHealth | None = None
    # How late (device s) the daemon's control-loop pass that took this frame started.
    loop_lateness_s: float = 0.0

    @property
    def max_temperature_c(self) -> float:
        """Hottest reading (NaN for a frame without sensors)."""
        return max(self.temperature_c.values(), default=float("nan"))

    @property
    def mean_temperature_c(self) -> float:
        """Mean reading (NaN for a frame without sensors)."""
        if not self.temperature_c:
            return float("nan")
        return sum(self.temperature_c.values()) / len(self.temperature_c)

    @property
    def hottest_sensor_id(self) -> str:
        """Id of the hottest sensor (first in layout order on ties; "" without sensors)."""
        return max(self.temperature_c, key=self.temperature_c.__getitem__, default="")


@dataclass(frozen=True)
class HistoryBucket(_Record):
    """A device's recorded samples from ``start_device_time_s`` for one bucket width: per
    sensor the lowest, highest and mean reading (NaN for a sensor without one)."""

    start_device_time_s: float
    samples: int
    min_c: dict[str, float]
    max_c: dict[str, float]
    mean_c: dict[str, float]


@dataclass(frozen=True)
class TelemetryHistory(_Record):
    """What :meth:`~photon_sdk.Client.get_history` returns.

    ``buckets`` when asked with ``bucket_s`` > 0 (every bucket of the window, empty ones with
    0 samples), else ``frames``: the samples themselves. The daemon keeps a limited past;
    ``retained_from_device_time_s`` is its oldest sample.
    """

    device_id: str
    sensor_ids: tuple[str, ...]
    bucket_s: float
    retained_from_device_time_s: float
    buckets: tuple[HistoryBucket, ...] = ()
    frames: tuple[TelemetryFrame, ...] = ()
