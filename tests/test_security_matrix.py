"""The role matrix: every RPC, called as every kind of caller, against a real photond.

What each call answers is compared cell by cell with the table in docs/security.md, so the
documentation and the daemon cannot drift apart; a method added to the protos without a row
fails here too.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from daemon_process import cleanup
from photon.v1 import (
    device_pb2,
    device_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    telemetry_pb2,
    telemetry_pb2_grpc,
)
from security_daemon import SecureDaemon, bearer, start_secure

pytestmark = pytest.mark.integration

DOC = Path(__file__).parent.parent / "docs" / "security.md"
TOKEN_CALLERS = (
    "no identity",
    "unknown token",
    "viewer",
    "operator",
    "admin",
    "Unix socket (default)",
)
# Callers on the Unix socket of a photond with [security.unix_users]: processes that take
# these uids before they connect (peer_caller.py), known by SO_PEERCRED.
PEER_CALLERS = {"Unix uid (operator line)": "bin", "Unix uid (no line)": "nobody"}
CALLERS = (*TOKEN_CALLERS, *PEER_CALLERS)
CALLER_PROCESS = Path(__file__).parent / "peer_caller.py"
REFUSALS = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def documented_matrix() -> dict[str, dict[str, str]]:
    text = DOC.read_text()
    table = text.split("<!-- role-matrix:begin -->")[1].split("<!-- role-matrix:end -->")[0]
    rows = [line for line in table.strip().splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert tuple(header[1:]) == CALLERS
    out = {}
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        out[cells[0]] = dict(zip(CALLERS, cells[1:], strict=True))
    return out


def long_job(name: str) -> job_pb2.SubmitJobRequest:
    # 600 device seconds: running or queued for the whole test at the test time scale.
    task = job_pb2.Task(
        id="hold",
        duration_s=600.0,
        heater_powers=[job_pb2.HeaterPower(heater_id="h00", power_mw=5.0)],
    )
    return job_pb2.SubmitJobRequest(
        device_id="sim0", name=name, graph=job_pb2.TaskGraph(tasks=[task])
    )


def first_of(stream: Any) -> None:
    try:
        next(iter(stream))
    finally:
        stream.cancel()


class Caller:
    """One kind of caller: a channel and the metadata it sends."""

    def __init__(self, target: str, metadata: tuple[tuple[str, str], ...]) -> None:
        self.channel = grpc.insecure_channel(target)
        self.metadata = metadata
        self.devices = device_pb2_grpc.DeviceServiceStub(self.channel)
        self.jobs = job_pb2_grpc.JobServiceStub(self.channel)
        self.telemetry = telemetry_pb2_grpc.TelemetryServiceStub(self.channel)

    def submit(self, name: str) -> str:
        return self.jobs.SubmitJob(long_job(name), metadata=self.metadata, timeout=60).id


def outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except grpc.RpcError as exc:
        code = exc.code()
        return code.name if code in REFUSALS else f"allowed ({code.name})"
    return "allowed"


def calls(
    c: Caller, md: Any, own_job: str, others_job: str, any_job: str
) -> Iterator[tuple[str, Callable[[], object]]]:
    t = 60
    small = job_pb2.TaskGraph(tasks=[job_pb2.Task(id="a", duration_s=0.01)])
    yield (
        "DeviceService/ListDevices",
        lambda: c.devices.ListDevices(device_pb2.ListDevicesRequest(), metadata=md, timeout=t),
    )
    yield (
        "DeviceService/GetDevice",
        lambda: c.devices.GetDevice(
            device_pb2.GetDeviceRequest(device_id="sim0"), metadata=md, timeout=t
        ),
    )
    yield (
        "DeviceService/GetDeviceState",
        lambda: c.devices.GetDeviceState(
            device_pb2.GetDeviceStateRequest(device_id="sim0"), metadata=md, timeout=t
        ),
    )
    limits = device_pb2.Limits(max_device_temperature_c=84.0)
    yield (
        "DeviceService/UpdateLimits",
        lambda: c.devices.UpdateLimits(
            device_pb2.UpdateLimitsRequest(device_id="sim0", limits=limits), metadata=md, timeout=t
        ),
    )
    yield (
        "DeviceService/EmergencyStop",
        lambda: c.devices.EmergencyStop(
            device_pb2.EmergencyStopRequest(device_id="sim0", reason="matrix"),
            metadata=md,
            timeout=t,
        ),
    )
    yield (
        "DeviceService/Resume",
        lambda: c.devices.Resume(
            device_pb2.ResumeRequest(device_id="sim0"), metadata=md, timeout=t
        ),
    )
    yield (
        "JobService/SubmitJob",
        lambda: c.jobs.SubmitJob(
            job_pb2.SubmitJobRequest(device_id="sim0", graph=small), metadata=md, timeout=t
        ),
    )
    yield (
        "JobService/PlanJob",
        lambda: c.jobs.PlanJob(
            job_pb2.PlanJobRequest(device_id="sim0", graph=small), metadata=md, timeout=t
        ),
    )
    yield (
        "JobService/GetJob",
        lambda: c.jobs.GetJob(job_pb2.GetJobRequest(job_id=any_job), metadata=md, timeout=t),
    )
    yield (
        "JobService/WatchJob",
        lambda: first_of(
            c.jobs.WatchJob(job_pb2.WatchJobRequest(job_id=any_job), metadata=md, timeout=t)
        ),
    )
    yield (
        "JobService/ListJobs",
        lambda: c.jobs.ListJobs(job_pb2.ListJobsRequest(), metadata=md, timeout=t),
    )
    yield (
        "JobService/GetJobStats",
        lambda: c.jobs.GetJobStats(job_pb2.GetJobStatsRequest(), metadata=md, timeout=t),
    )
    yield (
        "JobService/CancelJob (its own job)",
        lambda: c.jobs.CancelJob(job_pb2.CancelJobRequest(job_id=own_job), metadata=md, timeout=t),
    )
    yield (
        "JobService/CancelJob (another's job)",
        lambda: c.jobs.CancelJob(
            job_pb2.CancelJobRequest(job_id=others_job), metadata=md, timeout=t
        ),
    )
    sub = telemetry_pb2.SubscribeRequest(device_id="sim0", sample_interval_s=0.1)
    yield (
        "TelemetryService/Subscribe",
        lambda: first_of(c.telemetry.Subscribe(sub, metadata=md, timeout=t)),
    )
    history = telemetry_pb2.GetHistoryRequest(device_id="sim0", end_device_time_s=1.0)
    yield (
        "TelemetryService/GetHistory",
        lambda: c.telemetry.GetHistory(history, metadata=md, timeout=t),
    )
    poll = telemetry_pb2.PollRequest(subscribe=sub)
    yield (
        "TelemetryService/Poll",
        lambda: first_of(c.telemetry.Poll(iter([poll]), metadata=md, timeout=t)),
    )
    health = health_pb2_grpc.HealthStub(c.channel)
    yield (
        "grpc.health.v1.Health/Check",
        lambda: health.Check(health_pb2.HealthCheckRequest(), metadata=md, timeout=t),
    )
    reflect = reflection_pb2_grpc.ServerReflectionStub(c.channel)
    listing = reflection_pb2.ServerReflectionRequest(list_services="")
    yield (
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        lambda: first_of(reflect.ServerReflectionInfo(iter([listing]), metadata=md, timeout=t)),
    )


def assert_matches(
    documented: dict[str, dict[str, str]],
    observed: dict[str, dict[str, str]],
    callers: Iterable[str],
) -> None:
    """The observed cells of `callers` equal the documented ones (an allowed call's own status
    left out)."""
    wrong = [
        f"{rpc} / {who}: documented {documented[rpc][who]}, observed {observed[rpc][who]}"
        for rpc in documented
        for who in callers
        if re.sub(r" \(.*\)$", "", observed.get(rpc, {}).get(who, "missing"))
        != documented[rpc][who]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureDaemon]:
    daemon = start_secure()
    yield daemon
    cleanup(daemon.daemon)


def test_role_matrix_matches_the_documented_table(secure: SecureDaemon) -> None:
    documented = documented_matrix()
    tcp, unix = secure.tcp, secure.daemon.target
    callers = {
        "no identity": Caller(tcp, ()),
        "unknown token": Caller(tcp, bearer("pt_not-a-token-this-daemon-knows")),
        "viewer": Caller(tcp, bearer(secure.tokens["viewer"])),
        "operator": Caller(tcp, bearer(secure.tokens["operator"])),
        "admin": Caller(tcp, bearer(secure.tokens["admin"])),
        "Unix socket (default)": Caller(unix, ()),
    }
    other = Caller(tcp, bearer(secure.tokens["operator2"]))
    running = other.submit("keeps the device busy")
    observed: dict[str, dict[str, str]] = {}
    for name, caller in callers.items():
        # Each caller's own job (submitted by itself where it may submit) and another's.
        try:
            own = caller.submit(f"{name}'s own")
        except grpc.RpcError:
            own = other.submit(f"stands in for {name}'s own")
        others = other.submit(f"operator2's, for {name}")
        for rpc, call in calls(caller, caller.metadata, own, others, running):
            observed.setdefault(rpc, {})[name] = outcome(call)
            if rpc == "DeviceService/EmergencyStop":
                # Leave the device serving for the calls after it.
                callers["admin"].devices.Resume(
                    device_pb2.ResumeRequest(device_id="sim0"), metadata=callers["admin"].metadata
                )
    # Every method of every photon.v1 service has a row.
    for module in (device_pb2, job_pb2, telemetry_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                assert any(
                    row.split(" ")[0] == f"{service.name}/{method.name}" for row in documented
                ), method.full_name
    assert_matches(documented, observed, TOKEN_CALLERS)
    # Print the observed matrix with the codes the handlers gave (pytest -s shows it).
    for rpc, row in observed.items():
        print(f"| {rpc} | " + " | ".join(row[w] for w in TOKEN_CALLERS) + " |")


@pytest.fixture(scope="module")
def by_uid() -> Iterator[SecureDaemon]:
    """photond whose Unix socket gives `bin` the operator role by its uid."""
    daemon = start_secure(
        'unix_socket_group = "dialout"', tail='[security.unix_users]\nbin = "operator"\n'
    )
    # The socket's folder is 0700 (mkdtemp); the socket itself (0660, dialout) is the gate.
    os.chmod(Path(daemon.daemon.target[len("unix:") :]).parent, 0o755)
    yield daemon
    cleanup(daemon.daemon)


@pytest.mark.skipif(os.geteuid() != 0, reason="taking other uids needs root")
def test_role_matrix_by_peer_credentials_matches_the_documented_table(
    by_uid: SecureDaemon,
) -> None:
    documented = documented_matrix()
    other = Caller(by_uid.tcp, bearer(by_uid.tokens["operator2"]))
    admin = Caller(by_uid.tcp, bearer(by_uid.tokens["admin"]))
    running = other.submit("keeps the device busy")
    observed: dict[str, dict[str, str]] = {}
    for column, user in PEER_CALLERS.items():
        others = other.submit(f"operator2's, for {column}")
        stand_in = other.submit(f"stands in for {column}'s own")
        done = subprocess.run(
            [
                sys.executable,
                str(CALLER_PROCESS),
                str(pwd.getpwnam(user).pw_uid),
                str(grp.getgrnam("nogroup").gr_gid),
                str(grp.getgrnam("dialout").gr_gid),
                by_uid.daemon.target,
                "--matrix",
                others,
                running,
                stand_in,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        for rpc, cell in json.loads(done.stdout).items():
            observed.setdefault(rpc, {})[column] = cell
        # An operator's EmergencyStop leaves the device stopped: serving again for the next.
        admin.devices.Resume(
            device_pb2.ResumeRequest(device_id="sim0"), metadata=admin.metadata, timeout=60
        )
    assert_matches(documented, observed, PEER_CALLERS)
    for rpc, row in observed.items():
        print(f"| {rpc} | " + " | ".join(row[w] for w in PEER_CALLERS) + " |")
