"""A client process with other credentials, for the tests of roles by peer credentials.

    python peer_caller.py UID GID GROUPS TARGET CALL...
    python peer_caller.py UID GID GROUPS TARGET --matrix OTHERS_JOB RUNNING_JOB STAND_IN_JOB

Started as root by the tests; it imports what it needs, then takes the given groups, gid and
uid (setgroups/setgid/setuid, as `su` would) before opening its channel, so the daemon's
SO_PEERCRED sees those credentials for real. It prints one JSON object: call -> status name
(with `--matrix`, every row of test_security_matrix's role matrix -> its cell).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import grpc

from photon.v1 import device_pb2, device_pb2_grpc


def main(argv: list[str]) -> None:
    uid, gid, groups, target, *names = argv
    matrix: Any = None
    if names[:1] == ["--matrix"]:
        matrix = importlib.import_module("test_security_matrix")
    # Imported before the privileges go: the interpreter's files may be root's alone.
    os.setgroups([int(g) for g in groups.split(",") if g])
    os.setgid(int(gid))
    os.setuid(int(uid))
    if matrix is not None:
        print(json.dumps(matrix_row(matrix, target, *names[1:])))
        return
    with grpc.insecure_channel(target) as channel:
        devices = device_pb2_grpc.DeviceServiceStub(channel)
        calls: dict[str, Callable[[], object]] = {
            "GetDeviceState": lambda: devices.GetDeviceState(
                device_pb2.GetDeviceStateRequest(device_id="sim0"), timeout=30
            ),
            "EmergencyStop": lambda: devices.EmergencyStop(
                device_pb2.EmergencyStopRequest(device_id="sim0", reason="peercred"), timeout=30
            ),
            "Resume": lambda: devices.Resume(
                device_pb2.ResumeRequest(device_id="sim0"), timeout=30
            ),
        }
        out = {}
        for name in names:
            try:
                calls[name]()
                out[name] = "OK"
            except grpc.RpcError as exc:
                out[name] = exc.code().name
                out[name + ".details"] = exc.details() or ""
    print(json.dumps(out))


def matrix_row(
    matrix: Any, target: str, others: str, running: str, stand_in: str
) -> dict[str, str]:
    """Every call of the role matrix as this process: rpc -> what it answered."""
    caller = matrix.Caller(target, ())
    try:
        own = caller.submit("its own")
    except grpc.RpcError:
        own = stand_in  # may not submit: another's job stands in for its own
    return {
        rpc: matrix.outcome(call) for rpc, call in matrix.calls(caller, (), own, others, running)
    }


if __name__ == "__main__":
    main(sys.argv[1:])
