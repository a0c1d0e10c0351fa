"""The SDK's exceptions, and the one place gRPC errors are translated into them.

Every exception the SDK raises on purpose derives from :class:`PhotonError`::

    PhotonError
    ├── GraphError            (also a ValueError) the task graph is invalid; caught client-side
    ├── ProtocolError         the daemon sent something this SDK cannot make sense of
    └── RpcError              the daemon (or the channel) answered a call with a non-OK status
        ├── Cancelled             CANCELLED
        ├── InvalidArgument       INVALID_ARGUMENT   .field_violations name the bad fields
        ├── DeadlineExceeded      DEADLINE_EXCEEDED  the call outlived the client's timeout
        ├── NotFound              NOT_FOUND          no such device or job
        ├── AlreadyExists         ALREADY_EXISTS
        ├── PermissionDenied      PERMISSION_DENIED  the caller's role may not do this
        ├── ResourceExhausted     RESOURCE_EXHAUSTED queue full, too many subscribers
        ├── FailedPrecondition    FAILED_PRECONDITION e.g. cancelling a finished job
        ├── Unimplemented         UNIMPLEMENTED      the daemon does not offer this call yet
        ├── Internal              INTERNAL
        ├── Unavailable           UNAVAILABLE        daemon unreachable or shutting down
        └── Unauthenticated       UNAUTHENTICATED
    Other status codes (UNKNOWN, ABORTED, OUT_OF_RANGE, DATA_LOSS) raise plain RpcError.

Only one kind of failure is safe to retry blindly: :data:`RETRYABLE_CODES` is that table, and
:attr:`RpcError.retryable` reads it. UNAVAILABLE means the call never reached a daemon that
acted on it, or (for SubmitJob) that a retry carries the same ``request_id``. The SDK's
channels already retry it (gRPC's retry policy, see ``_channel.py``), so an
:class:`Unavailable` that reaches the caller has outlasted those retries; retrying later is
still the caller's decision.

:func:`map_rpc_error` is the single choke point: both clients wrap every gRPC call and stream
read and route ``grpc.RpcError`` (sync) and ``grpc.aio.AioRpcError`` through it, so no gRPC
exception type reaches the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = [
    "RETRYABLE_CODES",
    "AlreadyExists",
    "Cancelled",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "GraphError",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "PhotonError",
    "ProtocolError",
    "ResourceExhausted",
    "RpcError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "map_rpc_error",
]

#: Status codes after which repeating the same call is safe: the daemon did not act on it.
RETRYABLE_CODES: frozenset[grpc.StatusCode] = frozenset({grpc.StatusCode.UNAVAILABLE})


class PhotonError(Exception):
    """Base of every exception the SDK raises on purpose."""


class GraphError(PhotonError, ValueError):
    """A task graph failed client-side validation or could not be parsed.

    Raised before anything is sent, so a compile host learns about a malformed graph without
    a round trip. ``field`` is the path of the offending value in the SDK's names, e.g.
    ``tasks[3].duration_s`` (:class:`~photon_sdk.Task` attributes when validating, JSON keys
    when parsing a file), or ``""`` for the document as a whole.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class ProtocolError(PhotonError):
    """The daemon's answer broke the wire contract (e.g. a stream without its first message).

    Usually a version mismatch between the daemon and this SDK.
    """


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request, as the daemon reported it in a ``google.rpc.BadRequest``."""

    field: str
    description: str


class RpcError(PhotonError):
    """A call ended with a non-OK gRPC status.

    Attributes:
        code: the ``grpc.StatusCode``.
        message: the status message from the daemon (or the channel).
        field_violations: the bad request fields, when the daemon attached a
            ``google.rpc.BadRequest``; empty otherwise.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        field_violations: list[FieldViolation] | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.field_violations: list[FieldViolation] = list(field_violations or [])
        super().__init__(self._describe())

    @property
    def code_name(self) -> str:
        """The status code's name as the gRPC spec writes it, e.g. ``INVALID_ARGUMENT``."""
        return str(self.code.name)

    @property
    def retryable(self) -> bool:
        """Whether repeating the call is safe (see :data:`RETRYABLE_CODES`)."""
        return self.code in RETRYABLE_CODES

    def violation_lines(self) -> list[str]:
        """Each field violation as ``field: description``, but those the message already
        says (the daemon's message for a single bad field is that line)."""
        lines = [f"{v.field}: {v.description}" for v in self.field_violations]
        return [line for line in lines if line not in self.message]

    def _describe(self) -> str:
        return "\n  ".join([f"{self.code_name}: {self.message}", *self.violation_lines()])


class Cancelled(RpcError):
    """The call was cancelled (by this client or the daemon)."""


class InvalidArgument(RpcError):
    """The daemon rejected the request; ``field_violations`` name the bad fields."""


class DeadlineExceeded(RpcError):
    """The call did not finish within the client's timeout."""


class NotFound(RpcError):
    """The named device or job does not exist."""


class AlreadyExists(RpcError):
    """The thing to create exists already."""


class PermissionDenied(RpcError):
    """The caller is known but its role may not make this call."""


class ResourceExhausted(RpcError):
    """The daemon is at a limit (queue length, subscribers, message size)."""


class FailedPrecondition(RpcError):
    """The request is valid but the device or job is not in a state that allows it."""


class Unimplemented(RpcError):
    """The daemon does not implement this call (yet)."""


class Internal(RpcError):
    """The daemon failed in a way it did not expect; its logs say more."""


class Unavailable(RpcError):
    """The daemon could not be reached or is shutting down; safe to retry."""


class Unauthenticated(RpcError):
    """The call carried no valid credentials."""


_ERRORS_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def map_rpc_error(exc: grpc.RpcError) -> RpcError:
    """Translate a gRPC error (sync or asyncio) into the SDK's exception for its status code.

    The caller raises the result ``from exc`` so the original stays in the traceback.
    Field violations are read from the ``grpc-status-details-bin`` trailer; a missing or
    inconsistent trailer just leaves them empty, because the status code and message are
    what matter and must never be lost to a decoding problem.
    """
    code = _call_value(exc, "code")
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    message = _call_value(exc, "details")
    if not isinstance(message, str):
        message = str(exc)
    error_class = _ERRORS_BY_CODE.get(code, RpcError)
    return error_class(code, message, _field_violations(exc))


def _call_value(exc: grpc.RpcError, name: str) -> Any:
    """Read ``exc.code()``/``exc.details()``; a bare RpcError without them gives None."""
    method = getattr(exc, name, None)
    return method() if callable(method) else None


def _field_violations(exc: grpc.RpcError) -> list[FieldViolation]:
    # grpc.aio.AioRpcError answers code()/details()/trailing_metadata() synchronously, like
    # the sync Call, so the sync decoder serves both clients.
    if not callable(getattr(exc, "trailing_metadata", None)):
        return []
    try:
        status = rpc_status.from_call(cast(grpc.Call, exc))
    except (ValueError, DecodeError):  # a trailer that disagrees or is garbled: trust the status
        return []
    if status is None:
        return []
    violations: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(
                FieldViolation(v.field, v.description) for v in bad_request.field_violations
            )
    return violations
