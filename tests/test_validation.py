"""SubmitJob's structural checks: every bad value is refused with the field that holds it."""

from __future__ import annotations

import math

import grpc
import pytest

from photon.v1 import job_pb2
from photon_drivers.profile import load_profile
from photond.rpc.status import RequestError
from photond.rpc.validation import MAX_ID_CHARS, MAX_TIME_S, check_graph

PROFILE = load_profile()


def graph(*tasks: job_pb2.Task) -> job_pb2.TaskGraph:
    return job_pb2.TaskGraph(tasks=tasks)


def refused(g: job_pb2.TaskGraph, max_tasks: int = 100) -> RequestError:
    with pytest.raises(RequestError) as info:
        check_graph(g, PROFILE, max_tasks)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return info.value


def test_valid_graph_resolves_zone_power_to_heaters() -> None:
    checked = check_graph(
        graph(
            job_pb2.Task(
                id="a", duration_s=1, zone_powers=[job_pb2.ZonePower(zone_id="z0", power_mw=80)]
            ),
            job_pb2.Task(id="m", duration_s=0, depends_on=["a"]),
        ),
        PROFILE,
        100,
    )
    zone = PROFILE.zone("z0")
    assert checked.tasks[0].heater_power_mw == dict.fromkeys(zone.heater_ids, 10.0)
    assert checked.tasks[1].duration_s == 0.0  # milestones are allowed


@pytest.mark.parametrize(
    ("task", "field"),
    [
        (job_pb2.Task(id="", duration_s=1), "graph.tasks[0].id"),
        (job_pb2.Task(id="a", duration_s=-1), "graph.tasks[0].duration_s"),
        (job_pb2.Task(id="a", duration_s=math.nan), "graph.tasks[0].duration_s"),
        (job_pb2.Task(id="a", duration_s=math.inf), "graph.tasks[0].duration_s"),
        (
            job_pb2.Task(id="a", heater_powers=[job_pb2.HeaterPower(heater_id="nope", power_mw=1)]),
            "graph.tasks[0].heater_powers[0].heater_id",
        ),
        (
            job_pb2.Task(id="a", heater_powers=[job_pb2.HeaterPower(heater_id="h00", power_mw=-1)]),
            "graph.tasks[0].heater_powers[0].power_mw",
        ),
        (
            job_pb2.Task(id="a", heater_powers=[job_pb2.HeaterPower(heater_id="h00", power_mw=31)]),
            "graph.tasks[0].heater_powers[0].power_mw",
        ),
        (
            job_pb2.Task(id="a", zone_powers=[job_pb2.ZonePower(zone_id="z0", power_mw=math.nan)]),
            "graph.tasks[0].zone_powers[0].power_mw",
        ),
        (job_pb2.Task(id="a", allowed_lanes=["wl99"]), "graph.tasks[0].allowed_lanes[0]"),
        (job_pb2.Task(id="a", depends_on=["a"]), "graph.tasks[0].depends_on[0]"),
        (job_pb2.Task(id="a", depends_on=["ghost"]), "graph.tasks[0].depends_on[0]"),
        (job_pb2.Task(id="a", release_time_s=-1), "graph.tasks[0].release_time_s"),
        (job_pb2.Task(id="a", duration_s=2, deadline_s=1), "graph.tasks[0].deadline_s"),
        # Beyond the longest time a task may name (the planner allocates per control period).
        (job_pb2.Task(id="a", duration_s=1e300), "graph.tasks[0].duration_s"),
        (job_pb2.Task(id="a", duration_s=20_000), "graph.tasks[0].duration_s"),
        (job_pb2.Task(id="a", release_time_s=1e15), "graph.tasks[0].release_time_s"),
        (job_pb2.Task(id="a", deadline_s=MAX_TIME_S + 1), "graph.tasks[0].deadline_s"),
        (job_pb2.Task(id="a" * (MAX_ID_CHARS + 1)), "graph.tasks[0].id"),
    ],
)
def test_bad_value_names_its_field(task: job_pb2.Task, field: str) -> None:
    assert refused(graph(task)).field == field


def test_the_longest_time_and_id_are_accepted() -> None:
    checked = check_graph(
        graph(job_pb2.Task(id="a" * MAX_ID_CHARS, duration_s=MAX_TIME_S)), PROFILE, 10
    )
    assert checked.tasks[0].duration_s == MAX_TIME_S


def test_a_message_quotes_a_bounded_prefix_of_a_long_value() -> None:
    ghost = "g" * 100_000
    error = refused(graph(job_pb2.Task(id="a", depends_on=[ghost])))
    assert error.field == "graph.tasks[0].depends_on[0]"
    assert len(error.message) < 300 and "100000 characters" in error.message


def test_heater_and_zone_power_add_up_against_the_heater_maximum() -> None:
    task = job_pb2.Task(
        id="a",
        heater_powers=[job_pb2.HeaterPower(heater_id="h00", power_mw=25)],
        zone_powers=[job_pb2.ZonePower(zone_id="z0", power_mw=80)],  # +10 mW on h00
    )
    assert refused(graph(task)).field == "graph.tasks[0].zone_powers[0].power_mw"


def test_duplicate_id_is_refused() -> None:
    error = refused(graph(job_pb2.Task(id="a"), job_pb2.Task(id="a")))
    assert error.field == "graph.tasks[1].id"


def test_cycle_is_refused_and_named() -> None:
    error = refused(
        graph(
            job_pb2.Task(id="a", depends_on=["c"]),
            job_pb2.Task(id="b", depends_on=["a"]),
            job_pb2.Task(id="c", depends_on=["b"]),
            job_pb2.Task(id="free"),
        )
    )
    assert "cycle" in error.message
    assert all(name in error.message for name in ("a", "b", "c"))
    assert error.field.endswith(".depends_on")


def test_empty_and_oversized_graphs_are_refused() -> None:
    assert refused(graph()).field == "graph.tasks"
    assert (
        refused(graph(job_pb2.Task(id="a"), job_pb2.Task(id="b")), max_tasks=1).field
        == "graph.tasks"
    )
