"""The instruments recorded where an event happens: re-plans, plans, job ends, loop passes.

They are created once, at import, from the global meter: until a meter provider is installed
(`photond.metrics.export.configure_metrics`, which the daemon's CLI calls) recording on them
is a no-op of a few hundred nanoseconds, so the loop and the planner record unconditionally.
A recording is one lock and one bucket search in the SDK (about 4 µs of CPU on the lab's
2-core machine: benchmarks/metrics_overhead.py), and happens only at the events named here,
never per sensor: the per-sample values are read by `observed` when a reader collects, off
the device loop.

Instrument names are the Prometheus names minus `_total`: the Prometheus exporter appends it
to counters (and would double it), and a unit suffix already in the name is not repeated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import metrics

import photond

if TYPE_CHECKING:
    from photond.planning.plan import Plan

meter = metrics.get_meter("photond", photond.__version__)

# Bucket bounds, in seconds or as ratios: where the daemon's figures fall (re-times take
# milliseconds, a BALANCED plan about a second, QUALITY about five; lateness is a fraction of
# the 10 ms period unless something is wrong).
_REPLAN_BOUNDS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_PLANNING_BOUNDS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
_MAKESPAN_BOUNDS_S = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
_GAP_BOUNDS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_LATENESS_BOUNDS_S = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0)

replan_duration = meter.create_histogram(
    "photon_replan_duration_seconds",
    unit="s",
    description="Wall time of one re-plan of a running job's remaining tasks (the loop's "
    "re-time from the estimate), by device",
    explicit_bucket_boundaries_advisory=_REPLAN_BOUNDS_S,
)
planning_duration = meter.create_histogram(
    "photon_planning_duration_seconds",
    unit="s",
    description="Wall time the optimiser spent planning a submitted graph (SubmitJob and "
    "PlanJob), by optimisation level",
    explicit_bucket_boundaries_advisory=_PLANNING_BOUNDS_S,
)
plan_makespan = meter.create_histogram(
    "photon_plan_makespan_seconds",
    unit="s",
    description="Makespan of each plan made for a submitted graph, by optimisation level",
    explicit_bucket_boundaries_advisory=_MAKESPAN_BOUNDS_S,
)
plan_gap = meter.create_histogram(
    "photon_plan_gap_to_bound_ratio",
    unit="1",
    description="(makespan - lower bound) / lower bound of each plan made for a submitted "
    "graph, by optimisation level",
    explicit_bucket_boundaries_advisory=_GAP_BOUNDS,
)
loop_lateness = meter.create_histogram(
    "photon_control_loop_lateness_seconds",
    unit="s",
    description="How late each control-loop pass woke after its period's tick, in device "
    "seconds, by device",
    explicit_bucket_boundaries_advisory=_LATENESS_BOUNDS_S,
)
jobs_submitted = meter.create_counter(
    "photon_jobs_submitted",
    unit="1",
    description="Jobs accepted (journaled and queued), by device",
)
jobs_finished = meter.create_counter(
    "photon_jobs_finished",
    unit="1",
    description="Jobs that ended, by device and final state (completed, failed, cancelled)",
)
# Names of photon.v1.OptimizationLevel values as the label `level` shows them.
_LEVELS = {0: "balanced", 1: "fast", 2: "balanced", 3: "quality"}


def level_name(optimization_level: int) -> str:
    """The `level` label of a photon.v1.OptimizationLevel number (0, unset, is BALANCED)."""
    return _LEVELS.get(optimization_level, "unknown")


def record_plan(plan: Plan, optimization_level: int, device_id: str) -> None:
    """Record one plan made for a submitted graph: its planning time, makespan and gap."""
    attributes: Mapping[str, str] = {"level": level_name(optimization_level), "device": device_id}
    planning_duration.record(plan.planning_time_s, attributes)
    plan_makespan.record(plan.makespan_s, attributes)
    plan_gap.record(plan.gap_to_bound, attributes)
