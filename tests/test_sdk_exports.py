"""The public API of photon_sdk is exactly what __all__ lists, and the two clients mirror."""

from __future__ import annotations

import inspect

import photon_sdk
from photon_sdk import AsyncClient, Client

EXPECTED = [
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


def test_exported_members_are_the_public_api() -> None:
    assert photon_sdk.__all__ == EXPECTED
    public = {name for name in dir(photon_sdk) if not name.startswith("_")}
    # Public submodules appear as attributes once anything imported them (another test did).
    submodules = {"cli", "graph", "types", "workloads"}
    assert public - submodules == set(EXPECTED)


def test_exported_members_come_from_photon_sdk() -> None:
    for name in EXPECTED:
        member = getattr(photon_sdk, name)
        module = getattr(member, "__module__", None)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert module is not None and module.startswith("photon_sdk"), name


def test_every_rpc_error_subclass_is_exported() -> None:
    subclasses = {cls.__name__ for cls in photon_sdk.RpcError.__subclasses__()}
    assert subclasses <= set(EXPECTED)


def _methods(cls: type) -> list[str]:
    return [name for name in vars(cls) if not name.startswith("_") and callable(vars(cls)[name])]


def test_clients_mirror_each_other_method_for_method() -> None:
    assert _methods(Client) == _methods(AsyncClient)
    for name in _methods(Client):
        sync_params = inspect.signature(getattr(Client, name)).parameters
        async_params = inspect.signature(getattr(AsyncClient, name)).parameters
        assert list(sync_params) == list(async_params), name
