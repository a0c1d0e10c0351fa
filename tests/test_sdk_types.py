"""The SDK's value types (types.py): to_dict() is JSON-ready and keeps the units in its keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from photon_sdk import (
    Job,
    JobEvent,
    JobResult,
    JobState,
    OptimizationLevel,
    PlanStatistics,
    Schedule,
    ScheduledTask,
    TaskGraph,
    TelemetryFrame,
    ValidationLevel,
)

AT = datetime(2026, 12, 4, 18, 0, 0, tzinfo=UTC)


def schedule() -> Schedule:
    return Schedule(
        tasks=(ScheduledTask("a", "wl0", 0.0, 0.5),),
        makespan_s=0.5,
        predicted_peak_temperature_c=31.5,
        lower_bound_s=0.5,
        gap_to_bound=0.0,
        planner="parallel-tempering",
        planning_time_s=0.01,
        statistics=PlanStatistics("BALANCED", 8, 10, 80, 8000.0, 0.01),
    )


def job() -> Job:
    graph = TaskGraph(name="demo")
    graph.add_task("a", duration_s=0.5, heater_power_mw={"h00": 10.0})
    return Job(
        id="job-1",
        name="demo",
        device_id="sim0",
        state=JobState.COMPLETED,
        submitted_at=AT,
        started_at=AT,
        finished_at=None,
        device_start_time_s=1.0,
        device_end_time_s=1.5,
        graph=graph,
        schedule=schedule(),
        result=JobResult((ScheduledTask("a", "wl0", 0.0, 0.5),), 0.5, 30.0, 5.0),
        failure_reason="",
        request_id="r-1",
    )


def test_job_to_dict_is_json_with_units_in_the_keys() -> None:
    data = json.loads(json.dumps(job().to_dict(), allow_nan=False))
    assert data["state"] == "completed"
    assert data["submitted_at"] == "2026-12-04T18:00:00+00:00"
    assert data["finished_at"] is None
    assert data["schedule"]["lower_bound_s"] == 0.5
    assert data["schedule"]["statistics"]["replicas"] == 8
    assert data["schedule"]["tasks"] == [
        {"task_id": "a", "lane_id": "wl0", "start_s": 0.0, "end_s": 0.5}
    ]
    assert data["result"]["peak_temperature_c"] == 30.0
    # The graph in the task-graph file format, so it can be submitted again.
    assert TaskGraph.from_dict(data["graph"]) == job().graph


def test_non_finite_numbers_become_null() -> None:
    frame = TelemetryFrame(1.0, AT, {"s0": float("nan"), "s1": 25.0}, float("inf"))
    data = json.loads(json.dumps(frame.to_dict(), allow_nan=False))
    assert data["temperature_c"] == {"s0": None, "s1": 25.0}
    assert data["total_heater_power_mw"] is None


def test_event_to_dict_names_its_kind() -> None:
    event = JobEvent("job-1", 3, "task_started", 2.0, AT, task_id="a", job_time_s=0.0)
    data = event.to_dict()
    assert data["kind"] == "task_started" and data["sequence"] == 3
    assert data["schedule"] is None and data["job_time_s"] == 0.0


def test_levels_are_string_enums_named_as_on_the_command_line() -> None:
    assert [str(level) for level in OptimizationLevel] == ["fast", "balanced", "quality"]
    assert [str(level) for level in ValidationLevel] == ["basic", "strict", "paranoid"]
    assert OptimizationLevel("quality") is OptimizationLevel.QUALITY
