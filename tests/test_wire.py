"""The wire conversions: what the journal stores comes back whole, and messages say what we have."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from photon.v1 import job_pb2
from photon_drivers.profile import load_profile
from photond.loop.frame import Frame
from photond.planning.plan import Plan, PlannedTask, Stats
from photond.rpc.planning_pool import SubmitJobHeader
from photond.wire import (
    describe_profile,
    frame_to_proto,
    job_result,
    length_delimited,
    plan_from_proto,
    plan_to_proto,
    request_digest,
    top_level_fields,
)

PLAN = Plan(
    tasks=(PlannedTask("a", "wl0", 0.0, 0.5), PlannedTask("b", "wl1", 0.25, 1.0)),
    makespan_s=1.0,
    lower_bound_s=0.8,
    planner="parallel-tempering",
    planning_time_s=0.12,
    predicted_peak_temperature_c=82.5,
    predicted_peak_gradient_c_per_mm=1.75,
    aging_hours=0.003,
    statistics=Stats("BALANCED", "parallel-tempering", 8, 3, 400, 0.1, 110),
)


def test_a_journaled_plan_comes_back_with_every_prediction() -> None:
    restored = plan_from_proto(plan_to_proto(PLAN))
    assert restored == replace(PLAN, statistics=None)


def test_a_schedule_reports_the_gap_to_its_bound_and_the_search_it_took() -> None:
    schedule = plan_to_proto(PLAN)
    assert schedule.gap_to_bound == pytest.approx(0.25)
    assert schedule.statistics.optimization_level == "BALANCED"
    assert schedule.statistics.evaluations_per_s == pytest.approx(4000.0)


def test_a_result_lists_the_tasks_as_they_ran() -> None:
    result = job_result(PLAN.tasks, makespan_s=1.0, peak_temperature_c=80.0, energy_mj=12.0)
    assert [(t.task_id, t.lane_id, t.start_s, t.end_s) for t in result.tasks] == [
        tuple(t) for t in PLAN.tasks
    ]
    assert (result.makespan_s, result.peak_temperature_c, result.energy_mj) == (1.0, 80.0, 12.0)


def test_a_device_message_describes_every_part_of_its_profile() -> None:
    profile = load_profile()
    device = describe_profile("sim0", "sim", profile)
    assert [h.id for h in device.heaters] == [h.id for h in profile.heaters]
    assert [s.id for s in device.sensors] == [s.id for s in profile.sensors]
    assert [z.id for z in device.zones] == [z.id for z in profile.zones]
    assert device.limits.max_device_temperature_c == profile.limits.max_device_temperature_c


def test_a_frame_keeps_its_device_time_and_its_wall_clock_read_time() -> None:
    frame = frame_to_proto(Frame(12.5, 1_700_000_000.25, (30.0, 31.5), 40.0))
    assert frame.device_time_s == 12.5
    assert list(frame.temperature_c) == [30.0, 31.5]
    assert frame.read_at.ToNanoseconds() == 1_700_000_000_250_000_000


@given(
    tasks=st.sampled_from([0, 1, 2, 5, 6, 127, 128, 3_000]),
    name=st.text(max_size=200),
)
def test_a_field_assembled_from_bytes_parses_as_the_message_protobuf_builds(
    tasks: int, name: str
) -> None:
    # Sizes on both sides of the varint boundaries (1, 2 and 3 length bytes).
    schedule = job_pb2.Schedule(planner=name, makespan_s=float(tasks))
    schedule.tasks.extend(
        job_pb2.ScheduledTask(task_id=f"t{i}", lane_id="wl0", end_s=0.5) for i in range(tasks)
    )
    header = job_pb2.JobEvent(job_id="job-a", sequence=1)
    built = job_pb2.JobEvent(job_id="job-a", sequence=1)
    built.planned.schedule.CopyFrom(schedule)
    assembled = header.SerializeToString() + length_delimited(
        10, length_delimited(1, schedule.SerializeToString())
    )
    assert assembled == built.SerializeToString()
    assert job_pb2.JobEvent.FromString(assembled) == built


# The fields of a SubmitJob's header: every field but the graph.
_HEADER_FIELDS = frozenset(SubmitJobHeader.DESCRIPTOR.fields_by_number)

_requests = st.builds(
    job_pb2.SubmitJobRequest,
    device_id=st.text(max_size=12),
    name=st.text(max_size=12),
    optimization_level=st.integers(0, 2**31 - 1),
    validation_level=st.integers(0, 2**31 - 1),
    request_id=st.text(max_size=12),
    graph=st.builds(
        job_pb2.TaskGraph,
        tasks=st.lists(st.builds(job_pb2.Task, id=st.text(max_size=6)), max_size=3),
    ),
)


@given(_requests, st.lists(_requests, max_size=2))
def test_a_requests_header_fields_alone_read_as_the_whole_request_does(
    request: job_pb2.SubmitJobRequest, merged: list[job_pb2.SubmitJobRequest]
) -> None:
    # Concatenated messages merge: a field may come more than once, the last one winning.
    body = b"".join(r.SerializeToString() for r in [request, *merged])
    fields = top_level_fields(body, _HEADER_FIELDS)
    assert fields is not None
    whole = job_pb2.SubmitJobRequest.FromString(body)
    whole.ClearField("graph")
    assert job_pb2.SubmitJobRequest.FromString(fields) == whole


def test_a_large_graph_is_not_copied_for_the_header() -> None:
    assert {1, 3, 4, 5, 6, 7} == _HEADER_FIELDS  # every field but the graph (2)
    tasks = [job_pb2.Task(id=f"t{i}", duration_s=0.01) for i in range(20_000)]
    request = job_pb2.SubmitJobRequest(name="big", graph=job_pb2.TaskGraph(tasks=tasks))
    fields = top_level_fields(request.SerializeToString(), _HEADER_FIELDS)
    assert fields == job_pb2.SubmitJobRequest(name="big").SerializeToString()


@given(st.binary(max_size=64))
def test_any_bytes_give_records_of_the_body_or_none(body: bytes) -> None:
    fields = top_level_fields(body, _HEADER_FIELDS)
    if fields is not None:
        assert len(fields) <= len(body)


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\x05abc",  # a length past the end
        b"\x08\x80",  # a varint cut short
        b"\x0b\x0c",  # a group
        b"\x02\x00",  # field number 0
        b"\x08\x01" * 300,  # more records than a request has
    ],
)
def test_a_body_that_is_not_plain_records_is_left_to_the_parser(body: bytes) -> None:
    assert top_level_fields(body, _HEADER_FIELDS) is None


def test_a_digest_is_of_the_job_asked_for_not_of_its_key_or_the_answer_s_view() -> None:
    graph = job_pb2.TaskGraph(tasks=[job_pb2.Task(id="a", duration_s=0.01)])
    asked = job_pb2.SubmitJobRequest(name="n", graph=graph)
    same = job_pb2.SubmitJobRequest(
        name="n", graph=graph, request_id="k", view=job_pb2.JOB_VIEW_BASIC
    )
    assert request_digest(same) == request_digest(asked)
    assert request_digest(job_pb2.SubmitJobRequest(name="m", graph=graph)) != request_digest(asked)
