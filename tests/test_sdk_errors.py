"""map_rpc_error over a real gRPC server: codes, messages and field violations reach the caller."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

import photon_sdk
from photon_sdk import (
    AsyncClient,
    Client,
    FieldViolation,
    InvalidArgument,
    NotFound,
    RpcError,
    Unavailable,
    map_rpc_error,
)

_VIOLATIONS = [("device_id", "must name a device"), ("graph.tasks[3].duration_s", "negative")]


def _abort_invalid(request: bytes, context: grpc.ServicerContext) -> bytes:
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in _VIOLATIONS
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message="request is invalid", details=[detail]
    )
    context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort_with_status returns only by raising")


def _abort_not_found(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.NOT_FOUND, "no job 'j-9'")
    raise AssertionError("abort returns only by raising")


def _abort_aborted(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.ABORTED, "try again later")
    raise AssertionError("abort returns only by raising")


def _stream_then_abort(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    _abort_invalid(request, context)
    yield b""


_UNARY: dict[str, Callable[[bytes, grpc.ServicerContext], bytes]] = {
    "/photon.v1.DeviceService/GetDevice": _abort_invalid,
    "/photon.v1.DeviceService/ListDevices": _abort_aborted,
    "/photon.v1.JobService/GetJob": _abort_not_found,
}


class _Handler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Answers the methods above with raw bytes; everything else is UNIMPLEMENTED."""

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        method = handler_call_details.method
        if method in _UNARY:
            return grpc.unary_unary_rpc_method_handler(_UNARY[method])
        if method == "/photon.v1.JobService/WatchJob":
            return grpc.unary_stream_rpc_method_handler(_stream_then_abort)
        return None


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((_Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def _expected_violations() -> list[FieldViolation]:
    return [FieldViolation(f, d) for f, d in _VIOLATIONS]


def test_sync_invalid_argument_carries_code_message_and_field_violations(target: str) -> None:
    with Client(target) as client, pytest.raises(InvalidArgument) as caught:
        client.get_device("nope")
    error = caught.value
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == "request is invalid"
    assert error.field_violations == _expected_violations()
    assert isinstance(error.__cause__, grpc.RpcError)
    assert "graph.tasks[3].duration_s: negative" in str(error)
    assert not error.retryable


def test_async_invalid_argument_carries_code_message_and_field_violations(target: str) -> None:
    async def call() -> None:
        async with AsyncClient(target) as client:
            await client.get_device("nope")

    with pytest.raises(InvalidArgument) as caught:
        asyncio.run(call())
    assert caught.value.message == "request is invalid"
    assert caught.value.field_violations == _expected_violations()


def test_stream_error_goes_through_the_same_choke_point(target: str) -> None:
    with Client(target) as client, pytest.raises(InvalidArgument) as caught:
        list(client.watch_job("j-1"))
    assert caught.value.field_violations == _expected_violations()


def test_async_stream_error_goes_through_the_same_choke_point(target: str) -> None:
    async def watch() -> None:
        async with AsyncClient(target) as client:
            async for _ in client.watch_job("j-1"):
                pass

    with pytest.raises(InvalidArgument):
        asyncio.run(watch())


def test_status_without_details_has_no_field_violations(target: str) -> None:
    with Client(target) as client, pytest.raises(NotFound) as caught:
        client.get_job("j-9")
    assert caught.value.code is grpc.StatusCode.NOT_FOUND
    assert caught.value.message == "no job 'j-9'"
    assert caught.value.field_violations == []


def test_unlisted_code_maps_to_plain_rpc_error(target: str) -> None:
    with Client(target) as client, pytest.raises(RpcError) as caught:
        client.list_devices()
    assert type(caught.value) is RpcError
    assert caught.value.code is grpc.StatusCode.ABORTED


def test_unimplemented_method_maps_to_unimplemented(target: str) -> None:
    with Client(target) as client, pytest.raises(photon_sdk.Unimplemented):
        client.cancel_job("j-1")


def test_unreachable_daemon_is_unavailable_and_retryable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Client(f"127.0.0.1:{port}", timeout_s=5) as client, pytest.raises(Unavailable) as caught:
        client.list_devices()
    assert caught.value.retryable
    assert grpc.StatusCode.UNAVAILABLE in photon_sdk.RETRYABLE_CODES


def test_bare_rpc_error_maps_to_unknown() -> None:
    error = map_rpc_error(grpc.RpcError())
    assert type(error) is RpcError
    assert error.code is grpc.StatusCode.UNKNOWN
    assert error.field_violations == []


def test_check_health_answers_from_the_standard_service() -> None:
    health = pytest.importorskip("grpc_health.v1.health")
    health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
    health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("photon.v1.JobService", health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Client(f"127.0.0.1:{port}") as client:
            assert client.check_health() is True
            assert client.check_health("photon.v1.JobService") is False
            with pytest.raises(NotFound):
                client.check_health("photon.v1.NoSuchService")
    finally:
        server.stop(None)


def test_a_violation_the_message_already_states_is_not_repeated() -> None:
    # The daemon's message for one bad field is "field: description"; photonctl printed it
    # twice, once as the message and once as the violation.
    said = "graph.tasks[0]: task 'a' exceeds the limits"
    one = InvalidArgument(
        grpc.StatusCode.INVALID_ARGUMENT,
        said,
        [FieldViolation("graph.tasks[0]", "task 'a' exceeds the limits")],
    )
    assert one.violation_lines() == []
    assert str(one).count("exceeds") == 1
    two = InvalidArgument(
        grpc.StatusCode.INVALID_ARGUMENT,
        "request is invalid",
        [FieldViolation("name", "too long"), FieldViolation("labels", "too many")],
    )
    assert two.violation_lines() == ["name: too long", "labels: too many"]
    assert str(two) == "INVALID_ARGUMENT: request is invalid\n  name: too long\n  labels: too many"
