"""photon_sdk: the client side of photond — typed sync and asyncio clients, task graphs, errors.

Needs only grpcio, protobuf and grpcio-status, so a compile host installs it without the
daemon's numerical stack. Generated protobuf classes stay behind this API: methods take and
return the types in :mod:`photon_sdk.types` and :mod:`photon_sdk.graph`, and raise the
exceptions of ``photon_sdk._errors`` (tree in that module's docstring).

    from photon_sdk import Client, TaskGraph

    g = TaskGraph(name="demo")
    g.add_task("a", duration_s=0.5, heater_power_mw={"h00": 12.0})
    with Client() as client:
        job = client.wait_job(client.submit_job(g).id)
"""

from ._async_client import AsyncClient as AsyncClient
from ._async_client import AsyncTelemetryPoller as AsyncTelemetryPoller
from ._async_client import AsyncTelemetryStream as AsyncTelemetryStream
from ._channel import DEFAULT_TIMEOUTS_S as DEFAULT_TIMEOUTS_S
from ._channel import RETRY_POLICY as RETRY_POLICY
from ._client import Client as Client
from ._client import TelemetryPoller as TelemetryPoller
from ._client import TelemetryStream as TelemetryStream
from ._credentials import Tls as Tls
from ._errors import RETRYABLE_CODES as RETRYABLE_CODES
from ._errors import AlreadyExists as AlreadyExists
from ._errors import Cancelled as Cancelled
from ._errors import DeadlineExceeded as DeadlineExceeded
from ._errors import FailedPrecondition as FailedPrecondition
from ._errors import FieldViolation as FieldViolation
from ._errors import GraphError as GraphError
from ._errors import Internal as Internal
from ._errors import InvalidArgument as InvalidArgument
from ._errors import NotFound as NotFound
from ._errors import PermissionDenied as PermissionDenied
from ._errors import PhotonError as PhotonError
from ._errors import ProtocolError as ProtocolError
from ._errors import ResourceExhausted as ResourceExhausted
from ._errors import RpcError as RpcError
from ._errors import Unauthenticated as Unauthenticated
from ._errors import Unavailable as Unavailable
from ._errors import Unimplemented as Unimplemented
from ._errors import map_rpc_error as map_rpc_error
from ._pick import Candidate as Candidate
from ._pick import DeviceChoice as DeviceChoice
from ._pick import NoDeviceAvailable as NoDeviceAvailable
from ._pool import resolve_endpoints as resolve_endpoints
from ._resubscribe import AsyncResilientTelemetry as AsyncResilientTelemetry
from ._resubscribe import ResilientTelemetry as ResilientTelemetry
from ._resubscribe import TelemetryGap as TelemetryGap
from ._target import DEFAULT_TCP_PORT as DEFAULT_TCP_PORT
from ._target import SYSTEM_SOCKET_PATH as SYSTEM_SOCKET_PATH
from ._target import default_socket_path as default_socket_path
from ._target import default_target as default_target
from ._target import socket_search_path as socket_search_path
from .graph import Task as Task
from .graph import TaskGraph as TaskGraph
from .types import Device as Device
from .types import DeviceHealth as DeviceHealth
from .types import DeviceState as DeviceState
from .types import Heater as Heater
from .types import HistoryBucket as HistoryBucket
from .types import Job as Job
from .types import JobEvent as JobEvent
from .types import JobEventKind as JobEventKind
from .types import JobProgress as JobProgress
from .types import JobResult as JobResult
from .types import JobState as JobState
from .types import JobStats as JobStats
from .types import JobView as JobView
from .types import Lane as Lane
from .types import Layer as Layer
from .types import Limits as Limits
from .types import OptimizationLevel as OptimizationLevel
from .types import PlanStatistics as PlanStatistics
from .types import Schedule as Schedule
from .types import ScheduledTask as ScheduledTask
from .types import Sensor as Sensor
from .types import SensorState as SensorState
from .types import SensorStatus as SensorStatus
from .types import TelemetryFrame as TelemetryFrame
from .types import TelemetryHistory as TelemetryHistory
from .types import ValidationLevel as ValidationLevel
from .types import Zone as Zone

__all__ = [
    "DEFAULT_TCP_PORT",
    "DEFAULT_TIMEOUTS_S",
    "RETRYABLE_CODES",
    "RETRY_POLICY",
    "SYSTEM_SOCKET_PATH",
    "AlreadyExists",
    "AsyncClient",
    "AsyncResilientTelemetry",
    "AsyncTelemetryPoller",
    "AsyncTelemetryStream",
    "Cancelled",
    "Candidate",
    "Client",
    "DeadlineExceeded",
    "Device",
    "DeviceChoice",
    "DeviceHealth",
    "DeviceState",
    "FailedPrecondition",
    "FieldViolation",
    "GraphError",
    "Heater",
    "HistoryBucket",
    "Internal",
    "InvalidArgument",
    "Job",
    "JobEvent",
    "JobEventKind",
    "JobProgress",
    "JobResult",
    "JobState",
    "JobStats",
    "JobView",
    "Lane",
    "Layer",
    "Limits",
    "NoDeviceAvailable",
    "NotFound",
    "OptimizationLevel",
    "PermissionDenied",
    "PhotonError",
    "PlanStatistics",
    "ProtocolError",
    "ResilientTelemetry",
    "ResourceExhausted",
    "RpcError",
    "Schedule",
    "ScheduledTask",
    "Sensor",
    "SensorState",
    "SensorStatus",
    "Task",
    "TaskGraph",
    "TelemetryFrame",
    "TelemetryGap",
    "TelemetryHistory",
    "TelemetryPoller",
    "TelemetryStream",
    "Tls",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "ValidationLevel",
    "Zone",
    "default_socket_path",
    "default_target",
    "map_rpc_error",
    "resolve_endpoints",
    "socket_search_path",
]
