"""The devices a daemon owns, and how each is described on the wire."""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from photon.v1 import device_pb2
from photon_drivers.profile import DeviceProfile
from photond.loop.runtime import DeviceRuntime
from photond.rpc.status import RequestError, invalid_argument, not_found, quoted
from photond.wire import describe_profile, health_to_proto, limits_to_proto, timestamp


@dataclass
class ManagedDevice:
    id: str
    driver_name: str
    runtime: DeviceRuntime

    @property
    def profile(self) -> DeviceProfile:
        return self.runtime.driver.profile

    @functools.cached_property
    def _description(self) -> device_pb2.Device:
        # The profile never changes while the daemon runs: build the message once.
        return describe_profile(self.id, self.driver_name, self.profile)

    def describe(self) -> device_pb2.Device:
        """The device's description (a copy: callers may embed it in other messages)."""
        copy = device_pb2.Device()
        copy.CopyFrom(self._description)
        # The limits in force: the profile's until UpdateLimits changes them.
        copy.limits.CopyFrom(limits_to_proto(self.runtime.limits))
        return copy

    def state(self) -> device_pb2.DeviceState:
        frame = self.runtime.hub.latest
        job_id, running = self.runtime.active
        state = device_pb2.DeviceState(
            device_id=self.id,
            serving_status=device_pb2.SERVING_STATUS_SERVING,
            active_job_id=job_id,
            running_task_ids=running,
            queued_jobs=self.runtime.queued_jobs,
            interlock_tripped=self.runtime.interlock.tripped is not None,
            emergency_stopped=self.runtime.interlock.emergency is not None,
            health=health_to_proto(self.runtime.health()),
        )
        serving, reason = self.runtime.serving  # the breaker's state and the last error
        if not serving:
            state.serving_status = device_pb2.SERVING_STATUS_NOT_SERVING
            state.not_serving_reason = reason
        if frame is not None:
            readings = [t for t in frame.temperature_c if not math.isnan(t)]
            state.device_time_s = frame.device_time_s
            state.read_at.CopyFrom(timestamp(frame.wall_time_s))
            state.total_heater_power_mw = frame.total_heater_power_mw
            if readings:
                state.max_temperature_c = max(readings)
                state.mean_temperature_c = statistics.fmean(readings)
        else:
            state.read_at.FromNanoseconds(time.time_ns())
        return state


class DeviceTable:
    """Lookup by id with the errors every RPC needs."""

    def __init__(self, devices: list[ManagedDevice]) -> None:
        self._devices = {d.id: d for d in devices}

    def __iter__(self) -> Iterator[ManagedDevice]:
        return iter(self._devices.values())

    def get(self, device_id: str, field: str = "device_id") -> ManagedDevice:
        """The named device; NOT_FOUND for an unknown id. Empty picks the only device."""
        return self._lookup(device_id, field, not_found)

    def for_request(self, device_id: str, field: str = "device_id") -> ManagedDevice:
        """Like get(), but an unknown id is a bad argument of a request that carries other data."""
        return self._lookup(device_id, field, invalid_argument)

    def _lookup(
        self, device_id: str, field: str, error: Callable[[str, str], RequestError]
    ) -> ManagedDevice:
        if not device_id:
            if len(self._devices) == 1:
                return next(iter(self._devices.values()))
            raise invalid_argument(field, "this daemon owns several devices: name one")
        device = self._devices.get(device_id)
        if device is None:
            known = ", ".join(sorted(self._devices))
            raise error(field, f"no device {quoted(device_id)} (devices: {known})")
        return device
