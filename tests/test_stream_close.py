"""Streams are closed in the call's own task, behind the OpenTelemetry interceptor, on a real
grpc.aio server: a client that cancels mid-send leaves no "Failed to detach context" traceback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.trace import TracerProvider

from photond.rpc.stream_close import StreamCloseInterceptor

MESSAGE = b"x" * 100_000  # large, so that the server is mid-send when the client cancels


async def endless(request: bytes, context: Any) -> AsyncIterator[bytes]:
    while True:
        yield MESSAGE


async def three(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for i in range(3):
        yield bytes([i])


async def refused(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"first"
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request: refused")


async def serve(closing: bool, calls: int) -> tuple[list[int], list[bytes], grpc.StatusCode]:
    interceptors: list[Any] = [StreamCloseInterceptor()] if closing else []
    interceptors.append(aio_server_interceptor(tracer_provider=TracerProvider()))  # type: ignore[no-untyped-call]
    server = grpc.aio.server(interceptors=interceptors)
    handlers = {
        "Endless": grpc.unary_stream_rpc_method_handler(endless),
        "Three": grpc.unary_stream_rpc_method_handler(three),
        "Refused": grpc.unary_stream_rpc_method_handler(refused),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.S", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        received = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for _ in range(calls):
                call = channel.unary_stream("/t.S/Endless", None, None)(b"")
                async for _message in call:
                    call.cancel()
                    break
                received.append(1)
            whole = [m async for m in channel.unary_stream("/t.S/Three", None, None)(b"")]
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for _message in channel.unary_stream("/t.S/Refused", None, None)(b""):
                    pass
        await asyncio.sleep(0.1)  # let any finaliser task run before the server goes
        return received, whole, info.value.code()
    finally:
        await server.stop(None)


def detach_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "Failed to detach context" in r.getMessage()]


def test_a_client_cancelling_mid_send_leaves_no_detach_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        received, whole, code = asyncio.run(serve(closing=True, calls=10))
    assert received == [1] * 10
    assert detach_errors(caplog) == []
    assert whole == [b"\x00", b"\x01", b"\x02"]
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_without_it_the_same_calls_do_log_detach_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The fault this module exists for, shown on the same server without it: if OpenTelemetry
    # ever closes its generator safely by itself, this test says the interceptor can go.
    with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
        asyncio.run(serve(closing=False, calls=10))
    assert detach_errors(caplog)
