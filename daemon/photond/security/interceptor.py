"""The gRPC server interceptor that authenticates, authorizes, limits and audits every call.

Every photon.v1 method passes through here before its handler: the caller is identified
(`access.AccessPolicy.identify`), its role checked against the method's (`roles.METHOD_ROLES`),
its open streams and submissions counted against the config's limits, and the identity put
where the handler finds it (`identity.current_call`). Health and reflection pass untouched.

Refusals are UNAUTHENTICATED (no identity the config knows) or PERMISSION_DENIED (known, but
its role is too low) and RESOURCE_EXHAUSTED (an identity's limit of open calls). Every call that
changes something — and every refusal of one — is written to the audit log (`photond.audit`)
as one structured line: who, what (method and target), when (the line's time), the outcome
(the status code's name) and how long it took.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from photond.security.access import AccessControl, Refused, authorize
from photond.security.identity import CallInfo, Identity, reset_call, set_call
from photond.security.roles import MUTATING, STREAMS, SUBMISSIONS, is_open

audit_log = logging.getLogger("photond.audit")

# Request fields named in audit lines when the request has them.
_TARGET_FIELDS = ("device_id", "job_id", "request_id", "reason")


def _targets(request: object) -> dict[str, str]:
    # SubmitJob and PlanJob arrive raw (rpc.handlers.RawRequest): their fields are in `header`.
    message = getattr(request, "header", request)
    out = {}
    for name in _TARGET_FIELDS:
        value = getattr(message, name, "")
        if value:
            out[name] = str(value)[:128]
    return out


def _audit(
    method: str,
    identity: Identity | None,
    peer: str,
    request: object,
    outcome: str,
    started_s: float,
    notes: dict[str, str] | None = None,
    detail: str = "",
) -> None:
    fields: dict[str, object] = {
        "who": identity.name if identity else "-",
        "role": identity.role.label if identity else "-",
        "peer": peer or "-",
        "method": method.rsplit("/", 1)[-1],
        "outcome": outcome,
        "duration_ms": round((time.monotonic() - started_s) * 1e3, 1),
        **_targets(request),
        **(notes or {}),
    }
    if detail:
        fields["detail"] = detail[:200]
    audit_log.info("audit", extra=fields)


_CODE_NAMES = {c.value[0]: c.name for c in grpc.StatusCode}


def _outcome(context: grpc.aio.ServicerContext[Any, Any], failed: bool) -> str:
    """The call's status code name; a handler that raised without one was cancelled."""
    code: Any = context.code()
    if isinstance(code, grpc.StatusCode):
        code = code.value[0]
    if not code:
        return "CANCELLED" if failed else "OK"
    return _CODE_NAMES.get(code, str(code))


class SecurityInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, access: AccessControl) -> None:
        self._access = access

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or is_open(method):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(method, handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # No photon.v1 method is client-streaming with one answer; one added later is refused
        # until it is wrapped here.
        return grpc.unary_unary_rpc_method_handler(self._refuse_all(method))

    def _identify(self, context: grpc.aio.ServicerContext[Any, Any], metadata: Any) -> Identity:
        return self._access.identify(context.peer(), context.auth_context(), metadata or ())

    async def _refused(
        self,
        method: str,
        context: grpc.aio.ServicerContext[Any, Any],
        request: object,
        started_s: float,
        identity: Identity | None,
        error: Refused,
    ) -> None:
        code = (
            grpc.StatusCode.UNAUTHENTICATED
            if error.unauthenticated
            else grpc.StatusCode.PERMISSION_DENIED
        )
        if method in MUTATING:
            _audit(
                method, identity, context.peer(), request, code.name, started_s, detail=str(error)
            )
        await context.abort(code, str(error))

    def _acquire(self, method: str, identity: Identity) -> str | None:
        """Count the call against its identity's limit; the limit's key when it is reached."""
        config = self._access.config
        for kinds, key in (
            (STREAMS, "max_streams_per_identity"),
            (SUBMISSIONS, "max_submissions_per_identity"),
        ):
            if method in kinds and not self._access.quotas.acquire(
                key, identity.name, getattr(config, key)
            ):
                return key
        return None

    def _release(self, method: str, identity: Identity) -> None:
        if method in STREAMS:
            self._access.quotas.release("max_streams_per_identity", identity.name)
        if method in SUBMISSIONS:
            self._access.quotas.release("max_submissions_per_identity", identity.name)

    async def _exhausted(
        self,
        method: str,
        context: grpc.aio.ServicerContext[Any, Any],
        request: object,
        started_s: float,
        identity: Identity,
        key: str,
    ) -> None:
        limit = getattr(self._access.config, key)
        what = "open streams" if key == "max_streams_per_identity" else "submissions in flight"
        message = f"{identity.name} has {limit} {what} already (security.{key} = {limit})"
        if method in MUTATING:
            _audit(
                method,
                identity,
                context.peer(),
                request,
                "RESOURCE_EXHAUSTED",
                started_s,
                detail=message,
            )
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)

    async def _admit(
        self,
        method: str,
        context: grpc.aio.ServicerContext[Any, Any],
        request: Any,
        started_s: float,
    ) -> Identity:
        """Who calls, allowed by role and within their limits; else the call is aborted
        (UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED, audited). On return the
        caller holds a slot of `method`'s limit, which it must `_release`."""
        identity = None
        try:
            # Identified first, so that a refusal by role names who was refused.
            identity = self._identify(context, context.invocation_metadata())
            authorize(identity, method)
        except Refused as error:
            await self._refused(method, context, request, started_s, identity, error)
        assert identity is not None
        limit_key = self._acquire(method, identity)
        if limit_key is not None:
            await self._exhausted(method, context, request, started_s, identity, limit_key)
        return identity

    def _unary(
        self, method: str, inner: Callable[[Any, Any], Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started_s = time.monotonic()
            identity = await self._admit(method, context, request, started_s)
            info = CallInfo(identity, method)
            token = set_call(info)
            failed = True
            try:
                response = await inner(request, context)
                failed = False
                return response
            finally:
                reset_call(token)
                self._release(method, identity)
                if method in MUTATING:
                    _audit(
                        method,
                        identity,
                        context.peer(),
                        request,
                        _outcome(context, failed),
                        started_s,
                        info.notes,
                    )

        return behaviour

    def _stream(
        self, method: str, inner: Callable[[Any, Any], Any]
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]:
        """A streaming behaviour, an async generator as the interceptors around it expect,
        around either style of handler: an async generator (its items are passed on) or a
        coroutine that writes with `context.write` itself."""

        async def behaviour(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            started_s = time.monotonic()
            identity = await self._admit(method, context, request, started_s)
            token = set_call(CallInfo(identity, method))
            try:
                result = inner(request, context)
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        yield item
                else:
                    await result
            finally:
                # Streams are closed in their own task (`rpc.stream_close`); one run without
                # that interceptor may be closed by the collector, in another context.
                with contextlib.suppress(ValueError):
                    reset_call(token)
                self._release(method, identity)

        return behaviour

    def _refuse_all(
        self, method: str
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"{method} is not open to any role"
            )

        return behaviour
