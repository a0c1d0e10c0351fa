"""How an SDK channel proves who it is: a bearer token, TLS, or a client certificate.

A token rides as ``authorization: Bearer TOKEN`` metadata on every call, added by a channel
interceptor (gRPC's own call credentials refuse plaintext channels, and photond's Unix socket
is one). TLS is gRPC's ``ssl_channel_credentials``: the daemon's CA (or the system's roots),
and for mutual TLS the client's certificate and key. photond requires TLS on listeners beyond
loopback; a token sent to such a listener travels encrypted.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import grpc

from ._tracing import context_metadata
from ._tracing import enabled as tracing_enabled

__all__ = ["Tls"]

_Path = str | PathLike[str]


@dataclass(frozen=True)
class Tls:
    """TLS settings of a client's channel.

    Args:
        root_certs: PEM file of the CA that signed the daemon's certificate; None trusts the
            system's roots.
        client_cert: PEM certificate for mutual TLS (with ``client_key``).
        client_key: its PEM private key.
        server_name: the name to check the daemon's certificate against, when it is not the
            target's host (e.g. connecting by IP to a certificate issued for a host name).
    """

    root_certs: _Path | None = None
    client_cert: _Path | None = None
    client_key: _Path | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("Tls: client_cert and client_key go together")

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.root_certs, "root_certs"),
            private_key=_read(self.client_key, "client_key"),
            certificate_chain=_read(self.client_cert, "client_cert"),
        )

    def options(self) -> tuple[tuple[str, str], ...]:
        if self.server_name:
            return (("grpc.ssl_target_name_override", self.server_name),)
        return ()


def _read(path: _Path | None, name: str) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ValueError(f"Tls.{name}: cannot read {path}: {exc.strerror}") from None


def token_metadata(token: str) -> tuple[str, str]:
    if not token or any(c.isspace() for c in token):
        raise ValueError("token: a non-empty string without spaces")
    return ("authorization", f"Bearer {token}")


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


def _with(details: Any, *pairs: tuple[str, str]) -> _CallDetails:
    metadata = [*(details.metadata or ()), *pairs]
    return _CallDetails(
        details.method,
        details.timeout,
        metadata,
        details.credentials,
        details.wait_for_ready,
        details.compression,
    )


class TokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the token to every call of a blocking channel."""

    def __init__(self, token: str) -> None:
        self._pair = token_metadata(token)

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(_with(details, self._pair), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(_with(details, self._pair), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(_with(details, self._pair), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(_with(details, self._pair), requests)


class AsyncTokenInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the token to every call of an asyncio channel."""

    def __init__(self, token: str) -> None:
        self._pair = token_metadata(token)

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_aio_with(client_call_details, self._pair), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_aio_with(client_call_details, self._pair), request)

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_aio_with(client_call_details, self._pair), request_iterator)

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_aio_with(client_call_details, self._pair), request_iterator)


def _aio_with(details: Any, *pairs: tuple[str, str]) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), *pairs)
    return grpc.aio.ClientCallDetails(
        details.method,
        details.timeout,
        metadata,
        details.credentials,
        details.wait_for_ready,
    )


class TraceContextInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the caller's trace context to every call of a blocking channel (`_tracing`)."""

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(_with(details, *context_metadata()), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(_with(details, *context_metadata()), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(_with(details, *context_metadata()), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(_with(details, *context_metadata()), requests)


class AsyncTraceContextInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """The asyncio twin of `TraceContextInterceptor`."""

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_aio_with(client_call_details, *context_metadata()), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_aio_with(client_call_details, *context_metadata()), request)

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        details = _aio_with(client_call_details, *context_metadata())
        return await continuation(details, request_iterator)

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        details = _aio_with(client_call_details, *context_metadata())
        return await continuation(details, request_iterator)


def open_channel(
    target: str, options: Sequence[tuple[str, Any]], token: str | None, tls: Tls | None
) -> grpc.Channel:
    """A blocking channel to ``target`` with the token and TLS asked for."""
    opts = [*options, *(tls.options() if tls else ())]
    if tls is not None:
        channel = grpc.secure_channel(target, tls.credentials(), options=opts)
    else:
        channel = grpc.insecure_channel(target, options=opts)
    interceptors: list[Any] = [TraceContextInterceptor()] if tracing_enabled() else []
    if token is not None:
        interceptors.append(TokenInterceptor(token))
    return grpc.intercept_channel(channel, *interceptors) if interceptors else channel


def open_aio_channel(
    target: str, options: Sequence[tuple[str, Any]], token: str | None, tls: Tls | None
) -> grpc.aio.Channel:
    """The asyncio twin of :func:`open_channel`."""
    opts = [*options, *(tls.options() if tls else ())]
    # grpc-stubs type aio interceptors as a stand-in that must be cast.
    interceptors: Any = [
        *([AsyncTraceContextInterceptor()] if tracing_enabled() else []),
        *([AsyncTokenInterceptor(token)] if token is not None else []),
    ] or None
    if tls is not None:
        return grpc.aio.secure_channel(
            target, tls.credentials(), options=opts, interceptors=interceptors
        )
    return grpc.aio.insecure_channel(target, options=opts, interceptors=interceptors)
