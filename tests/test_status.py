"""How a request's fault goes on the wire (`rpc.status`): the code, the message, and a
BadRequest naming the field once."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from photond.rpc.status import failed_precondition, not_found, to_grpc_status


def _violations(status: grpc.Status) -> list[tuple[str, str]]:
    [(key, blob)] = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    details = status_pb2.Status.FromString(blob).details
    found = []
    for detail in details:
        request = error_details_pb2.BadRequest()
        assert detail.Unpack(request)
        found += [(v.field, v.description) for v in request.field_violations]
    return found


def test_the_message_names_the_field_and_the_violation_does_not_repeat_it() -> None:
    status = to_grpc_status(not_found("job_id", "no job 'nope'"))
    assert status.code == grpc.StatusCode.NOT_FOUND
    assert status.details == "job_id: no job 'nope'"
    assert _violations(status) == [("job_id", "no job 'nope'")]


def test_a_message_that_does_not_start_with_the_field_is_kept_whole() -> None:
    status = to_grpc_status(
        failed_precondition("task t0 cannot run within the limits", "graph.tasks[0]")
    )
    assert _violations(status) == [("graph.tasks[0]", "task t0 cannot run within the limits")]


def test_an_error_without_a_field_names_no_violation() -> None:
    status = to_grpc_status(failed_precondition("the device is parked"))
    assert status.details == "the device is parked"
    assert _violations(status) == []
