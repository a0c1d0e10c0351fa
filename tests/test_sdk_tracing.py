"""The SDK carries the caller's trace context to the daemon, and costs nothing without it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from photon_sdk._credentials import open_aio_channel, open_channel

_SDK = Path(__file__).resolve().parent.parent / "sdk"


class Echo(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """A server that answers each call with the metadata it received."""

    def service(self, details: grpc.HandlerCallDetails) -> Any:
        def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
            pairs = context.invocation_metadata()
            text = [(k, v if isinstance(v, str) else v.hex()) for k, v in pairs]
            return "\n".join(f"{k}={v}" for k, v in text).encode()

        return grpc.unary_unary_rpc_method_handler(answer)


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((Echo(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def sent(target: str) -> dict[str, str]:
    channel = open_channel(target, (), None, None)
    try:
        reply: bytes = channel.unary_unary("/t.Echo/Call", None, None)(b"", timeout=10)
    finally:
        channel.close()
    return dict(line.split("=", 1) for line in reply.decode().splitlines())


def tracer() -> trace.Tracer:
    return TracerProvider().get_tracer("compile-host")


def test_a_call_made_within_a_span_carries_its_traceparent(echo: str) -> None:
    with tracer().start_as_current_span("build") as build:
        metadata = sent(echo)
    context = build.get_span_context()
    # W3C: version 00, the trace id, the parent (the caller's span), then the trace flags.
    assert metadata["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")


def test_a_call_outside_any_span_carries_no_trace_context(echo: str) -> None:
    assert "traceparent" not in sent(echo)


def test_otel_sdk_disabled_turns_the_propagation_off(
    echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    with tracer().start_as_current_span("build"):
        assert "traceparent" not in sent(echo)


def test_without_opentelemetry_the_sdk_opens_channels_and_imports_none_of_it() -> None:
    code = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Hide())
import photon_sdk
from photon_sdk import Client
from photon_sdk._credentials import open_channel
open_channel("127.0.0.1:1", (), None, None).close()
Client("127.0.0.1:1").close()
assert not [m for m in sys.modules if m.startswith("opentelemetry")], "imported"
"""
    path = os.pathsep.join(p for p in (str(_SDK), os.environ.get("PYTHONPATH", "")) if p)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_importing_the_sdk_imports_no_opentelemetry() -> None:
    code = "import photon_sdk, sys; assert not [m for m in sys.modules if 'opentelemetry' in m]"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_asyncio_channel_carries_the_traceparent_too(echo: str) -> None:
    async def call() -> dict[str, str]:
        channel = open_aio_channel(echo, (), None, None)
        try:
            reply: bytes = await channel.unary_unary("/t.Echo/Call", None, None)(b"", timeout=10)
        finally:
            await channel.close(None)
        return dict(line.split("=", 1) for line in reply.decode().splitlines())

    with tracer().start_as_current_span("build") as build:
        metadata = asyncio.run(call())
    context = build.get_span_context()
    assert metadata["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert "traceparent" not in asyncio.run(call())
