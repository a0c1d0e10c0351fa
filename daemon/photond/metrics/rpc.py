"""Every RPC counted by service, method and status code, and timed, as the server answers it.

A grpc.aio server interceptor: it wraps each method's handler so that when the call ends (an
answer, an abort, an exception, a client that went away) it adds one to
`photon_grpc_server_handled_total{grpc_service, grpc_method, grpc_code}` and records the
call's wall time in `photon_grpc_server_handling_seconds` (for a stream: how long it was
open). The names and labels are those of go-grpc-prometheus, which operators' dashboards and
error-rate alerts already know.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import ServerInterceptor

from photond.metrics.instruments import meter

handled = meter.create_counter(
    "photon_grpc_server_handled",
    unit="1",
    description="RPCs completed on the server, by service, method and gRPC status code",
)
handling_duration = meter.create_histogram(
    "photon_grpc_server_handling_seconds",
    unit="s",
    description="Wall time from a call's start to its status (streams: how long they were "
    "open), by service and method",
    explicit_bucket_boundaries_advisory=(
        0.0005,
        0.001,
        0.005,
        0.01,
        0.05,
        0.1,
        0.5,
        1.0,
        5.0,
        30.0,
        120.0,
        600.0,
    ),
)


def _code(context: Any, error: BaseException | None) -> str:
    """The status the call ended with: the one set or aborted with, else OK, or from the
    exception that ended it (cancelled by the client, or a handler's bug: UNKNOWN)."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):  # grpc.aio keeps the status as the C-core's integer
        for candidate in grpc.StatusCode:
            if candidate.value[0] == code:
                return candidate.name
    if error is None:
        return "OK"
    # GeneratorExit: a stream closed before its end (`rpc.stream_close`), the client gone.
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return "CANCELLED"
    return "UNKNOWN"


class RpcMetricsInterceptor(ServerInterceptor):  # type: ignore[type-arg]
    """Count and time every call; see the module docstring."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        # The handler is a grpc.RpcMethodHandler named tuple: one behaviour is set, by kind.
        handler = await continuation(handler_call_details)
        if handler is None:  # an unknown method: grpc answers UNIMPLEMENTED itself
            return None
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        labels = {"grpc_service": service, "grpc_method": method}
        for kind in ("unary_unary", "stream_unary"):
            if getattr(handler, kind) is not None:
                return handler._replace(**{kind: _unary(getattr(handler, kind), labels)})
        for kind in ("unary_stream", "stream_stream"):
            if getattr(handler, kind) is not None:
                return handler._replace(**{kind: _streaming(getattr(handler, kind), labels)})
        return handler


def _record(
    labels: dict[str, str], context: Any, error: BaseException | None, start: float
) -> None:
    handled.add(1, {**labels, "grpc_code": _code(context, error)})
    handling_duration.record(time.perf_counter() - start, labels)


def _unary(behavior: Any, labels: dict[str, str]) -> Any:
    async def call(request: Any, context: Any) -> Any:
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _record(labels, context, error, start)

    return call


def _streaming(behavior: Any, labels: dict[str, str]) -> Any:
    async def call(request: Any, context: Any) -> AsyncIterator[Any]:
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            _record(labels, context, error, start)

    return call
