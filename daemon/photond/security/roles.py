"""Roles and the role each RPC needs: the one table authorization reads (docs/security.md).

Roles are ordered: each holds everything the one below it holds. viewer reads and streams;
operator also submits and plans jobs, cancels its own and stops a device; admin also changes
limits, resumes a stopped device and cancels anyone's job. Health checks and reflection are
open to every caller (a load balancer or `grpcurl describe` has no identity).
"""

from __future__ import annotations

import enum
from types import MappingProxyType


class Role(enum.IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role called `name` (viewer, operator, admin); ValueError names the choices."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}; one of {ROLE_NAMES}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


ROLE_NAMES = tuple(r.label for r in Role)

# The least role each photon.v1 method needs, by full method name. A method missing here is
# refused to everyone (tests/test_security_roles checks every method of the protos is listed).
METHOD_ROLES = MappingProxyType(
    {
        "/photon.v1.DeviceService/ListDevices": Role.VIEWER,
        "/photon.v1.DeviceService/GetDevice": Role.VIEWER,
        "/photon.v1.DeviceService/GetDeviceState": Role.VIEWER,
        "/photon.v1.DeviceService/EmergencyStop": Role.OPERATOR,
        "/photon.v1.DeviceService/Resume": Role.ADMIN,
        "/photon.v1.DeviceService/UpdateLimits": Role.ADMIN,
        "/photon.v1.JobService/GetJob": Role.VIEWER,
        "/photon.v1.JobService/WatchJob": Role.VIEWER,
        "/photon.v1.JobService/ListJobs": Role.VIEWER,
        "/photon.v1.JobService/GetJobStats": Role.VIEWER,
        # A dry run spends planning time (the planning pool is shared with submissions).
        "/photon.v1.JobService/PlanJob": Role.OPERATOR,
        "/photon.v1.JobService/SubmitJob": Role.OPERATOR,
        # An operator may cancel its own jobs; the handler refuses others' below admin.
        "/photon.v1.JobService/CancelJob": Role.OPERATOR,
        "/photon.v1.TelemetryService/Subscribe": Role.VIEWER,
        "/photon.v1.TelemetryService/GetHistory": Role.VIEWER,
        "/photon.v1.TelemetryService/Poll": Role.VIEWER,
    }
)

# Services every caller may use without an identity.
OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

# Calls that change something: each one is written to the audit log with its outcome.
MUTATING = frozenset(
    {
        "/photon.v1.DeviceService/EmergencyStop",
        "/photon.v1.DeviceService/Resume",
        "/photon.v1.DeviceService/UpdateLimits",
        "/photon.v1.JobService/SubmitJob",
        "/photon.v1.JobService/CancelJob",
    }
)

# Streams counted against an identity's `max_streams_per_identity`.
STREAMS = frozenset(
    {
        "/photon.v1.JobService/WatchJob",
        "/photon.v1.TelemetryService/Subscribe",
        "/photon.v1.TelemetryService/Poll",
    }
)
# Calls counted against an identity's `max_submissions_per_identity` while they are open.
SUBMISSIONS = frozenset({"/photon.v1.JobService/SubmitJob"})


def is_open(method: str) -> bool:
    return method.startswith(OPEN_SERVICES)
