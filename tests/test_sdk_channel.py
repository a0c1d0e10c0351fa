"""The SDK's channel setup (_channel.py): every RPC reachable, each with a deadline and retries."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google.protobuf.descriptor import ServiceDescriptor

import photon_sdk
from photon.v1 import device_pb2, job_pb2, telemetry_pb2
from photon_sdk import DEFAULT_TIMEOUTS_S, RETRY_POLICY, AsyncClient, Client
from photon_sdk._channel import CHANNEL_OPTIONS

SERVICES: list[ServiceDescriptor] = [
    device_pb2.DESCRIPTOR.services_by_name["DeviceService"],
    job_pb2.DESCRIPTOR.services_by_name["JobService"],
    telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"],
]
# gRPC's default server keepalive policy, which photond keeps (it sets none):
# grpc.http2.min_ping_interval_without_data_ms.
SERVER_MIN_PING_INTERVAL_MS = 5 * 60 * 1000


def options() -> dict[str, Any]:
    return dict(CHANNEL_OPTIONS)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_rpc_on_the_wire_is_a_method_of_both_clients(service: ServiceDescriptor) -> None:
    for method in service.methods:
        assert hasattr(Client, snake(method.name)), method.full_name
        assert hasattr(AsyncClient, snake(method.name)), method.full_name


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_unary_rpc_has_a_default_deadline(service: ServiceDescriptor) -> None:
    for method in service.methods:
        if not method.server_streaming:
            assert DEFAULT_TIMEOUTS_S[method.name] > 0, method.full_name
    assert "Check" in DEFAULT_TIMEOUTS_S  # grpc.health.v1


def test_the_service_config_retries_unavailable_on_every_service() -> None:
    assert options()["grpc.enable_retries"] == 1
    config = json.loads(options()["grpc.service_config"])
    [method_config] = config["methodConfig"]
    named = {entry["service"] for entry in method_config["name"]}
    assert named == {s.full_name for s in SERVICES} | {"grpc.health.v1.Health"}
    policy = method_config["retryPolicy"]
    assert policy == dict(RETRY_POLICY)
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert 2 <= policy["maxAttempts"] <= 5  # gRPC caps it at 5


def test_retries_end_within_the_shortest_default_deadline() -> None:
    # Backoffs are drawn up to initial * multiplier**n, capped at maxBackoff: their sum is the
    # longest a call can spend waiting between attempts.
    policy = RETRY_POLICY
    initial_s = float(str(policy["initialBackoff"]).removesuffix("s"))
    cap_s = float(str(policy["maxBackoff"]).removesuffix("s"))
    multiplier = float(str(policy["backoffMultiplier"]))
    attempts = int(str(policy["maxAttempts"]))
    waits_s = [min(initial_s * multiplier**n, cap_s) for n in range(attempts - 1)]
    assert sum(waits_s) < min(DEFAULT_TIMEOUTS_S.values())


def test_keepalive_stays_within_the_default_server_policy() -> None:
    assert options()["grpc.keepalive_time_ms"] > SERVER_MIN_PING_INTERVAL_MS
    assert options()["grpc.keepalive_permit_without_calls"] == 0


def test_timeout_s_none_uses_each_calls_default_and_a_number_replaces_them() -> None:
    with Client("unix:/nonexistent.sock") as client:
        assert client.timeout_s is None
        assert client._deadline_s("SubmitJob") == DEFAULT_TIMEOUTS_S["SubmitJob"]
        assert client._deadline_s("GetDeviceState") == DEFAULT_TIMEOUTS_S["GetDeviceState"]
    with Client("unix:/nonexistent.sock", timeout_s=2.5) as client:
        assert client._deadline_s("SubmitJob") == 2.5
    with pytest.raises(ValueError):
        Client("unix:/nonexistent.sock", timeout_s=0)


def test_submit_request_carries_levels_and_one_request_id() -> None:
    graph = photon_sdk.TaskGraph()
    graph.add_task("a", duration_s=0.1, heater_power_mw={"h00": 1.0})
    request = Client._submit_request(
        graph,
        "sim0",
        "",
        photon_sdk.OptimizationLevel.QUALITY,
        photon_sdk.ValidationLevel.PARANOID,
        True,
        None,
    )
    assert request.optimization_level == job_pb2.OPTIMIZATION_LEVEL_QUALITY
    assert request.validation_level == job_pb2.VALIDATION_LEVEL_PARANOID
    assert len(request.request_id) == 32
    unset = Client._submit_request(graph, "", "", None, None, True, "key-1")
    assert unset.optimization_level == job_pb2.OPTIMIZATION_LEVEL_UNSPECIFIED
    assert unset.validation_level == job_pb2.VALIDATION_LEVEL_UNSPECIFIED
    assert unset.request_id == "key-1"
    plan = Client._plan_request(graph, "", photon_sdk.OptimizationLevel.FAST, True)
    assert plan.optimization_level == job_pb2.OPTIMIZATION_LEVEL_FAST
