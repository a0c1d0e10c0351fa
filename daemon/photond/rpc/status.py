"""gRPC statuses with field-level details: the one way the daemon refuses a request.

INVALID_ARGUMENT carries a google.rpc.BadRequest naming the field (`graph.tasks[3].duration_s`),
so the SDK can show the user which value to fix without parsing the message text.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

# Longest part of a client's value an error message quotes: a 100 KiB id echoed whole would
# overflow the client's metadata limit (status messages travel in trailers).
QUOTE_CHARS = 64


def quoted(value: str) -> str:
    """`value` as an error message shows it: repr'd, cut to `QUOTE_CHARS` with its length."""
    if len(value) <= QUOTE_CHARS:
        return repr(value)
    return f"{value[:QUOTE_CHARS]!r}… ({len(value)} characters)"


class RequestError(Exception):
    """A request the daemon refuses; raised anywhere, turned into a status at the servicer.

    A plain exception, not a frozen dataclass: the interpreter and context managers (a trace
    span's, for one) must be able to set `__traceback__` on it as it propagates.
    """

    def __init__(self, code: grpc.StatusCode, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


def invalid_argument(field: str, description: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {description}", field)


def not_found(field: str, description: str) -> RequestError:
    return RequestError(grpc.StatusCode.NOT_FOUND, f"{field}: {description}", field)


def failed_precondition(description: str, field: str = "") -> RequestError:
    return RequestError(grpc.StatusCode.FAILED_PRECONDITION, description, field)


def unimplemented(what: str) -> RequestError:
    return RequestError(grpc.StatusCode.UNIMPLEMENTED, what)


def unavailable(description: str) -> RequestError:
    return RequestError(grpc.StatusCode.UNAVAILABLE, description)


def already_exists(field: str, description: str) -> RequestError:
    return RequestError(grpc.StatusCode.ALREADY_EXISTS, f"{field}: {description}", field)


def permission_denied(field: str, description: str) -> RequestError:
    return RequestError(grpc.StatusCode.PERMISSION_DENIED, f"{field}: {description}", field)


def to_grpc_status(error: RequestError) -> grpc.Status:
    """The wire form of an error: code, message and, when a field is named, a BadRequest."""
    status = status_pb2.Status(code=_RPC_CODES[error.code], message=error.message)
    if error.field:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        # The message names the field first; the violation names it already.
                        field=error.field,
                        description=error.message.removeprefix(f"{error.field}: "),
                    )
                ]
            )
        )
        status.details.append(detail)
    result: grpc.Status = rpc_status.to_status(status)
    return result


_RPC_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND: code_pb2.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: code_pb2.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS: code_pb2.ALREADY_EXISTS,
    grpc.StatusCode.CANCELLED: code_pb2.CANCELLED,
    grpc.StatusCode.UNIMPLEMENTED: code_pb2.UNIMPLEMENTED,
    grpc.StatusCode.UNAVAILABLE: code_pb2.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    grpc.StatusCode.INTERNAL: code_pb2.INTERNAL,
}
