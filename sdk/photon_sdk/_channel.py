"""How the SDK's gRPC channels are set up: retries, keepalive, message size, call deadlines.

Both clients open their channel with :data:`CHANNEL_OPTIONS` and take each unary call's
deadline from :data:`DEFAULT_TIMEOUTS_S`, so the sync and asyncio clients wait and retry alike.

Retries are gRPC's own (the ``retryPolicy`` of the channel's service config), not loops in the
SDK: a call that ends UNAVAILABLE — the daemon was unreachable, restarting, or the connection
broke before any answer — is sent again, the same serialized request each time, with
exponential backoff, within the call's one deadline. That makes SubmitJob safe to retry: its
``request_id`` is in the request, so every attempt carries the same key and the daemon
returns the job it journaled instead of creating a second one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CHANNEL_OPTIONS", "DEFAULT_TIMEOUTS_S", "RETRY_POLICY", "default_timeout_s"]

_SERVICES = (
    "photon.v1.DeviceService",
    "photon.v1.JobService",
    "photon.v1.TelemetryService",
    "grpc.health.v1.Health",
)

#: The retry policy of every photond method (gRPC service-config form). gRPC caps maxAttempts
#: at 5; each backoff is drawn at random up to 0.25, 0.5, 1, 2 s, so the four retries wait
#: 3.75 s at most: a daemon that restarts within that is not noticed, a dead one surfaces as
#: Unavailable within seconds (inside the shortest default deadline, 5 s).
RETRY_POLICY: Mapping[str, object] = MappingProxyType(
    {
        "maxAttempts": 5,
        "initialBackoff": "0.25s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
)

_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": service} for service in _SERVICES],
                "retryPolicy": dict(RETRY_POLICY),
            }
        ]
    }
)

#: Options of every channel the SDK opens.
CHANNEL_OPTIONS: tuple[tuple[str, str | int], ...] = (
    # A job's answer carries its graph and schedule: a 100,000-task job is tens of MiB, beyond
    # gRPC's default 4 MiB receive limit. The daemon bounds what it sends (max_tasks_per_job).
    ("grpc.max_receive_message_length", -1),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", _SERVICE_CONFIG),
    # A call is retried only while its request still fits gRPC's retry buffer (256 KiB by
    # default, a few thousand tasks). 64 MiB holds a 100,000-task graph of ordinary tasks
    # (tens of bytes each), so big submissions are retried too; a request beyond it is sent
    # once, without retries. The buffer is held only while a call is open.
    ("grpc.per_rpc_retry_buffer_size", 64 * 1024 * 1024),
    # Reconnect soon after a daemon comes back, so a retry finds the new connection inside
    # its backoff rather than a channel still waiting out gRPC's 1 s first reconnect delay.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # Keepalive, to notice a daemon host that vanished during a long WatchJob or Subscribe.
    # photond sets no keepalive policy, so gRPC's default server policy applies: pings at
    # most every 5 minutes, and none while no call is open (more earns a GOAWAY,
    # "too_many_pings"). So: a ping after 6 minutes without data, only during a call.
    ("grpc.keepalive_time_ms", 6 * 60 * 1000),
    ("grpc.keepalive_timeout_ms", 20 * 1000),
    ("grpc.keepalive_permit_without_calls", 0),
)

#: Default deadline of each unary call in seconds, by RPC name; ``timeout_s=`` on a client
#: replaces them all. Streams (WatchJob, Subscribe) have none: close them instead.
DEFAULT_TIMEOUTS_S: Mapping[str, float] = MappingProxyType(
    {
        # Reads of small state answer at once.
        "ListDevices": 10.0,
        "GetDevice": 10.0,
        "GetDeviceState": 5.0,
        "GetJobStats": 10.0,
        "Check": 5.0,
        # A stop must act now or be reported as failed: an operator needs to know.
        "EmergencyStop": 5.0,
        "Resume": 5.0,
        "UpdateLimits": 10.0,
        "CancelJob": 10.0,
        # A large job's answer is tens of MiB; a listing carries several.
        "GetJob": 30.0,
        "ListJobs": 30.0,
        "GetHistory": 30.0,
        # Planning: up to 5 s of search at QUALITY, after waiting for a place in the planning
        # queue (planning_queue_limit plans ahead of it), plus checking a large graph.
        "SubmitJob": 60.0,
        "PlanJob": 60.0,
    }
)


def default_timeout_s(rpc: str) -> float:
    """Return the default deadline of RPC ``rpc`` (its method name, e.g. ``"SubmitJob"``)."""
    return DEFAULT_TIMEOUTS_S[rpc]
