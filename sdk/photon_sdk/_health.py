"""The two messages of ``grpc.health.v1.Health/Check``, so health checks need no extra package.

The official classes live in grpcio-health-checking, which the daemon needs but a compile
host should not. The messages are tiny and frozen by the gRPC health protocol, so they are
declared here from a descriptor in a private pool: same wire format, no clash with
``grpc_health`` if that is imported too. A test runs :meth:`Client.check_health` against the
real ``grpc_health`` servicer to keep the two in agreement.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["CHECK_METHOD", "SERVING", "decode_response", "encode_request"]

#: Full method name of the standard health check.
CHECK_METHOD = "/grpc.health.v1.Health/Check"
#: ``HealthCheckResponse.ServingStatus.SERVING``.
SERVING = 1

_TYPE_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_TYPE_ENUM = descriptor_pb2.FieldDescriptorProto.TYPE_ENUM
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL


def _build_messages() -> tuple[Any, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="photon_sdk/health_check.proto", package="grpc.health.v1", syntax="proto3"
    )
    request = file.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=_TYPE_STRING, label=_OPTIONAL)
    response = file.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for number, name in enumerate(("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")):
        status.value.add(name=name, number=number)
    response.field.add(
        name="status",
        number=1,
        type=_TYPE_ENUM,
        label=_OPTIONAL,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_factory.GetMessageClass(
            pool.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest")
        ),
        message_factory.GetMessageClass(
            pool.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")
        ),
    )


_Request, _Response = _build_messages()


def encode_request(service: str) -> bytes:
    """Serialize a ``HealthCheckRequest`` for ``service`` ("" means the whole server)."""
    data: bytes = _Request(service=service).SerializeToString()
    return data


def decode_response(data: bytes) -> int:
    """Return the ``ServingStatus`` number of a serialized ``HealthCheckResponse``."""
    status: int = _Response.FromString(data).status
    return status
