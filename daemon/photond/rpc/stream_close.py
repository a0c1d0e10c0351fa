"""Close every streaming handler in the call's own task, so its cleanup runs where it began.

grpc.aio drives a streaming handler written as an async generator with `async for ... : await
send(...)`. When the call ends while a message is being sent (the client cancelled, or went
away after the last message it wanted — `wait_job` does this at a job's terminal event), the
send raises and grpc.aio leaves the generator suspended at its `yield`. It is closed later by
the garbage collector, through the event loop's async-generator finaliser, in a *new* task —
another `contextvars.Context`. The OpenTelemetry gRPC interceptor's generator then fails to
detach the span context it attached (`ValueError: ... was created in a different Context`) and
logs two tracebacks at error level per such call, and any `finally:` of ours runs late and
elsewhere.

This interceptor, first in the server's list (outermost), hands grpc.aio a coroutine instead
(grpc.aio's reader/writer form of a streaming handler): it iterates the wrapped generator,
writes each message with `context.write`, and on every way out — the end, an abort, a failed
write, the task's cancellation — closes the generator with `aclose()` in the same task.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import ServerInterceptor


class StreamCloseInterceptor(ServerInterceptor):  # type: ignore[type-arg]
    """See the module docstring."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        for kind in ("unary_stream", "stream_stream"):
            behavior = getattr(handler, kind)
            # A handler already in the write form has no generator to leave behind.
            if inspect.isasyncgenfunction(behavior):
                return handler._replace(**{kind: _closing(behavior)})
        return handler


def _closing(behavior: Callable[[Any, Any], AsyncGenerator[Any, None]]) -> Any:
    async def call(request: Any, context: Any) -> None:
        responses = behavior(request, context)
        try:
            async for response in responses:
                await context.write(response)
        finally:
            await responses.aclose()

    return call
