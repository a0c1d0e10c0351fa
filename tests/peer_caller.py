"""A client process with other credentials: `python peer_caller.py UID GID GROUPS TARGET CALL...`.

Started as root by the tests; it imports what it needs, then takes the given groups, gid and
uid (setgroups/setgid/setuid, as `su` would) before opening its channel, so the daemon's
SO_PEERCRED sees those credentials for real. It prints one JSON object: call -> status name.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

import grpc

from photon.v1 import device_pb2, device_pb2_grpc


def main(argv: list[str]) -> None:
    uid, gid, groups, target, *names = argv
    # Imported above, before the privileges go: the interpreter's files may be root's alone.
    os.setgroups([int(g) for g in groups.split(",") if g])
    os.setgid(int(gid))
    os.setuid(int(uid))
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


if __name__ == "__main__":
    main(sys.argv[1:])
