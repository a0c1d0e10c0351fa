"""Several daemons behind one :class:`~photon_sdk.Client`: a channel per endpoint, routed per call.

Why not one gRPC channel with ``round_robin``: gRPC balances a channel over the addresses its
resolver returns, which cannot mix a ``unix:`` socket with ``host:port`` targets, and it would
send every call to any daemon — but photond daemons share no state, so a job submitted to one
is unknown to the others (its GetJob, WatchJob and CancelJob must reach the daemon that has
it). So the pool keeps one ordinary channel per endpoint (each with the SDK's retry policy,
keepalive and reconnect backoff) and routes each call by what it needs:

- calls any daemon can answer alike (PlanJob, the health check) go round-robin over the
  endpoints, those whose channel is READY first; one that ends UNAVAILABLE (after its
  channel's own retries) is sent to the next endpoint, since answering it changes nothing;
- SubmitJob goes round-robin the same way but is never re-sent to another endpoint (the first
  may have journaled it); the pool remembers which endpoint answered, by job id;
- calls naming a job go to the endpoint that took it, or, for a job this client did not
  submit, to the first endpoint that knows it (a GetJob to each, NOT_FOUND meaning "not me");
- calls naming a device or listing one daemon's state are refused with a :class:`ValueError`
  that points at ``client.endpoint(target)``: device ids are only unique per daemon.

Health is gRPC's own connectivity state of each channel (``channel.subscribe``), not a
home-made registry: endpoints come from the caller (or :func:`resolve_endpoints` for a DNS
name with several addresses).
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc

from photon.v1 import job_pb2

__all__ = ["PoolChannel", "resolve_endpoints"]

_JOB = "/photon.v1.JobService/"
_ANY_DAEMON = frozenset({_JOB + "PlanJob", "/grpc.health.v1.Health/Check"})
_SUBMIT = _JOB + "SubmitJob"
_BY_JOB = frozenset({_JOB + "GetJob", _JOB + "WatchJob", _JOB + "CancelJob"})
_GET_JOB = _JOB + "GetJob"
#: How long close() waits for one of grpc's connectivity-polling threads (each wakes every
#: 0.2 s); generous for a loaded machine, and a thread still alive after it is left to end.
_POLLER_JOIN_S = 5.0


def resolve_endpoints(name: str, port: int) -> list[str]:
    """Return one ``host:port`` target per address a DNS name resolves to, in DNS order.

    A lab that publishes its daemons under one name (several A/AAAA records) passes the
    result to ``Client([...])`` so each daemon gets its own channel.
    """
    seen: list[str] = []
    for family, _, _, _, address in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM):
        host = str(address[0])
        target = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if target not in seen:
            seen.append(target)
    return seen


class PoolChannel(grpc.Channel):
    """A grpc.Channel over several endpoint channels, routing each call (module docstring)."""

    def __init__(self, targets: Sequence[str], channels: Sequence[grpc.Channel]) -> None:
        self.targets = tuple(targets)
        self._channels = tuple(channels)
        self._states = [grpc.ChannelConnectivity.IDLE for _ in channels]
        self._turn = itertools.count()
        self._owner: dict[str, int] = {}  # job id -> endpoint index
        self._lock = threading.Lock()
        self._watchers: list[Callable[[grpc.ChannelConnectivity], None]] = []
        before = set(threading.enumerate())
        for index, channel in enumerate(self._channels):
            watcher = self._watcher(index)
            self._watchers.append(watcher)
            channel.subscribe(watcher, try_to_connect=True)
        # grpc polls each subscribed channel from a thread it starts here. After unsubscribe
        # that thread notices within its 0.2 s watch deadline and ends; a channel closed
        # before then makes it raise "Cannot monitor channel state: Channel closed!". So
        # close() joins these threads before the endpoint channels are closed.
        self._pollers = [t for t in threading.enumerate() if t not in before]

    def _watcher(self, index: int) -> Callable[[grpc.ChannelConnectivity], None]:
        def watch(state: grpc.ChannelConnectivity) -> None:
            self._states[index] = state

        return watch

    def connectivity(self) -> dict[str, str]:
        """Each endpoint's channel state by target, e.g. ``{"unix:/a.sock": "READY"}``."""
        return {t: s.name for t, s in zip(self.targets, self._states, strict=True)}

    def order(self) -> list[int]:
        """Endpoint indexes for the next stateless call: round-robin, READY ones first,
        endpoints in TRANSIENT_FAILURE last (still tried: a state can be stale)."""
        start = next(self._turn) % len(self._channels)
        rotated = [(start + i) % len(self._channels) for i in range(len(self._channels))]
        rank = {
            grpc.ChannelConnectivity.READY: 0,
            grpc.ChannelConnectivity.IDLE: 1,
            grpc.ChannelConnectivity.CONNECTING: 1,
            grpc.ChannelConnectivity.TRANSIENT_FAILURE: 2,
            grpc.ChannelConnectivity.SHUTDOWN: 3,
        }
        return sorted(rotated, key=lambda i: rank[self._states[i]])

    def remember(self, job_id: str, index: int) -> None:
        with self._lock:
            self._owner[job_id] = index

    def owner_of(self, job_id: str, timeout: float | None) -> int:
        """The endpoint index that has ``job_id``; asks each one in turn when unknown."""
        with self._lock:
            if job_id in self._owner:
                return self._owner[job_id]
        request = job_pb2.GetJobRequest(job_id=job_id)
        last: grpc.RpcError | None = None
        for index in self.order():
            get = self._channels[index].unary_unary(
                _GET_JOB,
                request_serializer=job_pb2.GetJobRequest.SerializeToString,
                response_deserializer=job_pb2.Job.FromString,
            )
            try:
                get(request, timeout=timeout)
            except grpc.RpcError as exc:
                if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    last = exc
                    continue
                raise
            self.remember(job_id, index)
            return index
        assert last is not None
        raise last

    # -- grpc.Channel ------------------------------------------------------------------------

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        calls = [c.unary_unary(method, *args, **kwargs) for c in self._channels]
        return _UnaryUnary(self, method, calls)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        calls = [c.unary_stream(method, *args, **kwargs) for c in self._channels]
        return _UnaryStream(self, method, calls)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _refuse(method, len(self._channels))

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _refuse(method, len(self._channels))

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        raise NotImplementedError("subscribe to an endpoint's own channel")

    def unsubscribe(self, callback: Any) -> None:
        raise NotImplementedError("subscribe to an endpoint's own channel")

    def close(self) -> None:
        """Unsubscribe from every endpoint channel and wait for grpc's polling threads to end."""
        for channel, watcher in zip(self._channels, self._watchers, strict=True):
            channel.unsubscribe(watcher)
        for thread in self._pollers:
            thread.join(timeout=_POLLER_JOIN_S)

    def __enter__(self) -> PoolChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _refused_message(method: str, endpoints: int) -> str:
    name = method.rsplit("/", 1)[-1]
    return (
        f"{name} is answered by one daemon, and this Client talks to {endpoints}: call it on "
        "client.endpoint(target), e.g. the target pick_device() chose"
    )


def _refuse(method: str, endpoints: int) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ValueError(_refused_message(method, endpoints))

    return refused


class _UnaryUnary:
    def __init__(self, pool: PoolChannel, method: str, calls: list[Any]) -> None:
        self._pool = pool
        self._method = method
        self._calls = calls

    def __call__(self, request: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        pool, method = self._pool, self._method
        if method in _ANY_DAEMON:
            last: grpc.RpcError | None = None
            for index in pool.order():
                try:
                    return self._calls[index](request, timeout=timeout, **kwargs)
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    last = exc  # this daemon is down: the next one answers the same
            assert last is not None
            raise last
        if method == _SUBMIT:
            index = pool.order()[0]
            response = self._calls[index](request, timeout=timeout, **kwargs)
            pool.remember(response.id, index)
            return response
        if method in _BY_JOB:
            index = pool.owner_of(request.job_id, timeout)
            return self._calls[index](request, timeout=timeout, **kwargs)
        raise ValueError(_refused_message(method, len(self._calls)))


class _UnaryStream:
    def __init__(self, pool: PoolChannel, method: str, calls: list[Any]) -> None:
        self._pool = pool
        self._method = method
        self._calls = calls

    def __call__(self, request: Any, timeout: float | None = None, **kwargs: Any) -> Iterator[Any]:
        if self._method in _BY_JOB:
            index = self._pool.owner_of(request.job_id, None)
            result: Iterator[Any] = self._calls[index](request, timeout=timeout, **kwargs)
            return result
        raise ValueError(_refused_message(self._method, len(self._calls)))
