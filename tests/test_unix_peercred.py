"""Roles by peer credentials on the Unix socket, against a real photond.

Clients are processes that take other uids, gids and groups before they connect
(`peer_caller.py`; the tests run as root), so what photond reads is the kernel's SO_PEERCRED and
SO_PEERGROUPS, not anything a client says. Per uid and per group (primary and supplementary):
viewer, operator, admin and no role; a user's own line beats their groups'; photond's own user
is admin; the audit log names `uid:<n>(<user>)`; and the splice carries a telemetry stream and
a 10,000-task submission.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from daemon_process import cleanup
from photon.v1 import device_pb2, device_pb2_grpc, job_pb2, job_pb2_grpc
from photon_sdk import Client
from security_daemon import SecureDaemon, bearer, start_secure

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="taking other uids needs root"),
]

CALLER = Path(__file__).parent / "peer_caller.py"
NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = grp.getgrnam("nogroup").gr_gid
# The socket's group: every caller below is in it, so the socket's file mode lets it connect
# and its role comes from the other lines alone (this group has none).
SOCKET_GROUP = "dialout"
USERS = {"daemon": "viewer", "bin": "operator", "4242": "admin"}
GROUPS = {"cdrom": "viewer", "floppy": "operator", "tape": "admin"}
CALLS = ("GetDeviceState", "EmergencyStop", "Resume")
EXPECTED = {
    "viewer": {"GetDeviceState": "OK", "EmergencyStop": "PERMISSION_DENIED"},
    "operator": {"EmergencyStop": "OK", "Resume": "PERMISSION_DENIED"},
    "admin": {"EmergencyStop": "OK", "Resume": "OK"},
    "none": {name: "UNAUTHENTICATED" for name in CALLS},
}


def _table(name: str, lines: dict[str, str]) -> str:
    return f"[security.{name}]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in lines.items())


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureDaemon]:
    daemon = start_secure(
        f'unix_socket_group = "{SOCKET_GROUP}"',
        tail=_table("unix_users", USERS) + _table("unix_groups", GROUPS),
    )
    # The test's socket folder is 0700 (mkdtemp): let other users reach the socket's file,
    # whose own mode (0660, group dialout) is what lets them connect.
    os.chmod(Path(daemon.daemon.target[len("unix:") :]).parent, 0o755)
    yield daemon
    cleanup(daemon.daemon)


def gid(name: str) -> int:
    return grp.getgrnam(name).gr_gid


def call_as(
    daemon: SecureDaemon, uid: int, primary: int, groups: list[int], *calls: str
) -> dict[str, str]:
    """Run `calls` in a process with these credentials; the status name of each."""
    groups = [gid(SOCKET_GROUP), *groups]
    log_before = len(daemon.daemon.log())
    done = subprocess.run(
        [
            sys.executable,
            str(CALLER),
            str(uid),
            str(primary),
            ",".join(map(str, groups)),
            daemon.daemon.target,
            *calls,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    # What photond logged meanwhile (its audit lines are written before it answers).
    result["log"] = daemon.daemon.log()[log_before:]
    # Leave the device serving for the next caller (photond's own user is admin).
    with grpc.insecure_channel(daemon.daemon.target) as channel:
        device_pb2_grpc.DeviceServiceStub(channel).Resume(
            device_pb2.ResumeRequest(device_id="sim0"), timeout=30
        )
    return result


def assert_role(result: dict[str, str], role: str, uid: int) -> None:
    for name, code in EXPECTED[role].items():
        assert result[name] == code, (role, result)
    if role != "none":
        # Known by its uid, not as "the socket": the audit line of its EmergencyStop says so.
        audited = (
            rf"who=uid:{uid}(\(\w+\))? role={role} peer=unix-abstract:\S+ method=EmergencyStop"
        )
        assert re.search(audited, result["log"]), audited


@pytest.mark.parametrize(
    ("user", "role"), [("daemon", "viewer"), ("bin", "operator"), ("4242", "admin")]
)
def test_a_uid_gets_its_lines_role(secure: SecureDaemon, user: str, role: str) -> None:
    uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
    assert_role(call_as(secure, uid, NOGROUP, [], *CALLS), role, uid)


@pytest.mark.parametrize(("group", "role"), sorted(GROUPS.items()))
def test_a_primary_group_gets_its_lines_role(secure: SecureDaemon, group: str, role: str) -> None:
    assert_role(call_as(secure, NOBODY, gid(group), [], *CALLS), role, NOBODY)


@pytest.mark.parametrize(("group", "role"), sorted(GROUPS.items()))
def test_a_supplementary_group_gets_its_lines_role(
    secure: SecureDaemon, group: str, role: str
) -> None:
    assert_role(call_as(secure, NOBODY, NOGROUP, [gid(group)], *CALLS), role, NOBODY)


def test_a_caller_in_no_line_is_unauthenticated_and_told_why(secure: SecureDaemon) -> None:
    result = call_as(secure, NOBODY, NOGROUP, [], *CALLS)
    assert_role(result, "none", NOBODY)
    details = result["GetDeviceState.details"]
    assert f"uid:{NOBODY}(nobody)" in details and "security.unix_users" in details


def test_the_highest_group_wins_and_a_users_own_line_beats_its_groups(
    secure: SecureDaemon,
) -> None:
    assert_role(call_as(secure, NOBODY, gid("cdrom"), [gid("tape")], *CALLS), "admin", NOBODY)
    # `daemon` is a viewer by its own line, though in the admins' group.
    viewer = pwd.getpwnam("daemon").pw_uid
    assert_role(call_as(secure, viewer, gid("tape"), [], *CALLS), "viewer", viewer)


def test_photonds_own_user_is_admin_and_audited_by_uid(secure: SecureDaemon) -> None:
    with grpc.insecure_channel(secure.daemon.target) as channel:
        devices = device_pb2_grpc.DeviceServiceStub(channel)
        devices.EmergencyStop(device_pb2.EmergencyStopRequest(device_id="sim0", reason="own"))
        devices.Resume(device_pb2.ResumeRequest(device_id="sim0"))
    assert "who=uid:0(root) role=admin" in secure.daemon.log()


def test_audit_lines_name_the_callers_uid(secure: SecureDaemon) -> None:
    operator = pwd.getpwnam("bin").pw_uid
    call_as(secure, operator, NOGROUP, [], "EmergencyStop", "Resume")
    log = secure.daemon.log()
    assert f"who=uid:{operator}(bin) role=operator" in log
    assert "peer=unix-abstract:photond-peer/" in log
    # A uid with no name in the user database: its number alone.
    call_as(secure, 4242, NOGROUP, [], "EmergencyStop")
    assert "who=uid:4242 role=admin" in secure.daemon.log()


def test_a_token_still_wins_on_the_socket(secure: SecureDaemon) -> None:
    with grpc.insecure_channel(secure.daemon.target) as channel:
        devices = device_pb2_grpc.DeviceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            devices.Resume(
                device_pb2.ResumeRequest(device_id="sim0"),
                metadata=bearer(secure.tokens["viewer"]),
            )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "token:viewer" in (refused.value.details() or "")


def test_the_splice_carries_a_telemetry_stream_and_a_10k_task_submission(
    secure: SecureDaemon,
) -> None:
    tasks = [
        job_pb2.Task(
            id=f"t{n}",
            duration_s=0.001,
            heater_powers=[job_pb2.HeaterPower(heater_id=f"h{n // 8 % 8}{n % 8}", power_mw=1.0)],
        )
        for n in range(10_000)
    ]
    request = job_pb2.SubmitJobRequest(
        device_id="sim0",
        name="10k through the splice",
        graph=job_pb2.TaskGraph(tasks=tasks),
        optimization_level=job_pb2.OPTIMIZATION_LEVEL_FAST,
    )
    assert request.ByteSize() > 256 * 1024  # more than the splicer buffers at once
    with Client(secure.daemon.target) as client:
        stream = client.subscribe("sim0", sample_interval_s=0.05)
        frames = 0
        with stream:
            for _ in stream:
                frames += 1
                if frames == 5:
                    break
            with grpc.insecure_channel(
                secure.daemon.target,
                options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
            ) as channel:
                job = job_pb2_grpc.JobServiceStub(channel).SubmitJob(request, timeout=600)
            assert job.id
            # The stream lived through the submission.
            deadline = time.monotonic() + 60
            for _ in stream:
                frames += 1
                if frames >= 20 or time.monotonic() > deadline:
                    break
        assert frames >= 20
        assert job.owner == "uid:0(root)"


HOLDER = """
import sys, time, grpc
from photon.v1 import telemetry_pb2, telemetry_pb2_grpc
streams = []
for _ in range(int(sys.argv[2])):
    # A subchannel pool of its own: each channel is a connection of its own.
    channel = grpc.insecure_channel(sys.argv[1], options=[("grpc.use_local_subchannel_pool", 1)])
    call = telemetry_pb2_grpc.TelemetryServiceStub(channel).Subscribe(
        telemetry_pb2.SubscribeRequest(device_id="sim0", sample_interval_s=0.1)
    )
    next(call)
    streams.append((channel, call))
print("ready", flush=True)
time.sleep(600)
"""


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_clients_killed_mid_stream_leave_no_sockets_behind(secure: SecureDaemon) -> None:
    pid = secure.daemon.process.pid
    before = open_descriptors(pid)
    connections = 20
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, secure.daemon.target, str(connections)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        # Each connection: the splicer's two sockets and gRPC's end of the internal one.
        assert open_descriptors(pid) >= before + 2 * connections
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    deadline = time.monotonic() + 60
    while open_descriptors(pid) > before + 2:  # slack: photond may open a file meanwhile
        assert time.monotonic() < deadline, (before, open_descriptors(pid))
        time.sleep(0.1)


def reload_with(daemon: SecureDaemon, users: dict[str, str]) -> str:
    """Rewrite the daemon's uid lines, SIGHUP it, and return what it logged about the reload."""
    config = daemon.folder / "photond.toml"
    text = config.read_text()
    start = text.index("[security.unix_users]")
    end = text.index("[security.unix_groups]")
    config.write_text(text[:start] + _table("unix_users", users) + text[end:])
    before = len(daemon.daemon.log())
    daemon.daemon.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while not re.search(r"configuration reload(ed| refused)", daemon.daemon.log()[before:]):
        assert time.monotonic() < deadline, daemon.daemon.log()[before:]
        time.sleep(0.05)
    return daemon.daemon.log()[before:]


def test_a_reload_changes_a_uids_role_for_its_next_calls(secure: SecureDaemon) -> None:
    operator = pwd.getpwnam("bin").pw_uid
    try:
        logged = reload_with(secure, {**USERS, "bin": "admin"})
        assert "applied=security" in logged, logged
        assert_role(call_as(secure, operator, NOGROUP, [], *CALLS), "admin", operator)
    finally:
        reload_with(secure, USERS)
    assert_role(call_as(secure, operator, NOGROUP, [], *CALLS), "operator", operator)


def test_stop_ends_spliced_streams_and_removes_the_internal_socket() -> None:
    daemon = start_secure(tail=_table("unix_users", {"daemon": "viewer"}))
    found = re.search(r"grpc_socket=(\S+)", daemon.daemon.log())
    assert found, daemon.daemon.log()
    internal = Path(found.group(1))
    assert internal.is_socket() and (internal.parent.stat().st_mode & 0o777) == 0o700
    ended: list[str] = []

    def follow() -> None:
        try:
            with Client(daemon.daemon.target) as client:
                for _ in client.subscribe("sim0", sample_interval_s=0.05):
                    pass
            ended.append("ended")
        except Exception as exc:  # the daemon went away: how the stream ends is gRPC's
            ended.append(type(exc).__name__)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    time.sleep(1.0)
    assert not ended  # streaming through the splice
    try:
        assert daemon.daemon.stop() == 0
    finally:
        cleanup(daemon.daemon)
    follower.join(30)
    assert ended, "the stream outlived photond"
    assert not internal.parent.exists()
