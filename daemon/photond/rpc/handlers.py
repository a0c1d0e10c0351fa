"""Register the photon.v1 servicers so that a body that does not decode is the client's error.

The generated `add_*Servicer_to_server` functions decode requests with `FromString`, and when
that raises, grpcio answers UNKNOWN and logs a traceback at error level for every such request
(a fuzzing client filled megabytes of log). Here each method is registered from the service's
descriptor with a decoder that returns an `Undecodable` instead of raising; the servicers'
wrappers (`services.unary`, `services.streaming`) answer it with INVALID_ARGUMENT, and
`note_undecodable` logs it at warning level, without a traceback, at most once per interval.

Methods that carry a task graph can be registered `raw`: their handler gets a `RawRequest`, the
body as received and its small fields read by a header class (`planning_pool.header_class`),
and the graph is parsed where it is planned, in a worker process. A handler may answer with
bytes already serialised (the planner's fragments); they go out as they are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from photond.wire import top_level_fields

log = logging.getLogger("photond.rpc")

# At most one warning per this many seconds about undecodable bodies; the rest are counted.
WARN_INTERVAL_S = 10.0


@dataclass(frozen=True)
class Undecodable:
    """What a request body became when it did not decode as its method's message."""

    type_name: str
    size_bytes: int
    error: str


@dataclass(frozen=True)
class RawRequest:
    """A request whose graph is left unparsed: the body, and its other fields in `header`."""

    body: bytes
    header: Any


def _decoder(
    cls: type[Message], header: type[Message] | None = None
) -> Callable[[bytes], Message | RawRequest | Undecodable]:
    # The header's fields, read from their records alone (`wire.top_level_fields`).
    numbers = frozenset(header.DESCRIPTOR.fields_by_number) if header is not None else frozenset()

    def decode(body: bytes) -> Message | RawRequest | Undecodable:
        try:
            if header is not None:
                fields = top_level_fields(body, numbers)
                return RawRequest(body, header.FromString(body if fields is None else fields))
            return cls.FromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            return Undecodable(cls.DESCRIPTOR.full_name, len(body), str(exc)[:200])

    return decode


def _encoder(cls: type[Message]) -> Callable[[Message | bytes], bytes]:
    def encode(response: Message | bytes) -> bytes:
        if isinstance(response, bytes):
            return response
        return cls.SerializeToString(response)

    return encode


_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def add_servicer(
    server: grpc.aio.Server,
    service: ServiceDescriptor,
    servicer: object,
    raw: Mapping[str, type[Message]] | None = None,
) -> None:
    """Register every method of `service` on `server`, served by `servicer`'s methods; those
    named in `raw` get a `RawRequest` read with the header class given."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in service.methods:
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        make: Any = _KINDS[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_decoder(request_cls, (raw or {}).get(method.name)),
            response_serializer=_encoder(response_cls),
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )


class _Throttle:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_s = -float("inf")
        self._suppressed = 0

    def note(self, method: str, body: Undecodable) -> None:
        with self._lock:
            now_s = time.monotonic()
            if now_s - self._last_s < WARN_INTERVAL_S:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last_s = self._suppressed, 0, now_s
        log.warning(
            "request body does not decode",
            extra={
                "method": method,
                "type": body.type_name,
                "bytes": body.size_bytes,
                "error": body.error,
                "suppressed_since_last": suppressed,
            },
        )


_throttle = _Throttle()


def note_undecodable(method: str, body: Undecodable) -> None:
    """Log an undecodable body at warning level, at most once per `WARN_INTERVAL_S`."""
    _throttle.note(method, body)
