"""The metrics read when a reader collects: what each device loop already publishes.

Nothing here runs on a device loop. Each callback reads, on the collecting thread (a scrape of
the Prometheus endpoint, or the OTLP exporter's), values the loop replaces whole each pass
(the latest frame, the observer's estimate, the commanded powers, plain counters), so it needs
no lock the loop takes, apart from the queue's length (a lock held for a deque append) and a
serial driver's counters (held while a request is on the wire: the scrape waits, the loop
does not).

The set follows what the DCGM exporter offers for a GPU, translated to a photonic chip:
temperatures per sensor and the hottest point (there: GPU and memory temperature), heater
power (there: power usage), the limit and the headroom to it (there: slowdown and shutdown
temperatures), the interlock (there: thermal violation counters), plus the control loop's
own health and the serial link's error counters (there: PCIe replay and XID errors).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from photon_drivers.breaker import BreakerState
from photond.loop.closed_loop import REPLAN_KINDS
from photond.metrics.instruments import meter
from photond.planning.optimize import BUDGETS
from photond.rpc.devices import DeviceTable, ManagedDevice
from photond.rpc.planning_pool import PlanningPool

# The serial link's counters exported, by their LinkCounters field name (photon_drivers.serial).
SERIAL_COUNTERS = {
    "corrupt_frames": "Frames from the device whose CRC or framing was wrong",
    "timeouts": "Requests that got no valid reply within the link's timeout",
    "retries": "Requests sent again after a timeout or a corrupt reply",
    "reconnects": "Times the link was opened again after it was lost",
    "link_errors": "Port errors (the port vanished or failed to read or write)",
    "failed_requests": "Requests that failed after every attempt",
    "requests": "Requests sent to the device",
}

Callback = Callable[[CallbackOptions], Iterable[Observation]]


class DeviceObservations:
    """The observable instruments of every device in `devices`; see the module docstring."""

    def __init__(self, devices: DeviceTable, planner: PlanningPool) -> None:
        self._devices = devices
        self._planner = planner
        self._register()

    def _each(self, read: Callable[[ManagedDevice], Iterator[Observation]]) -> Callback:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            observations: list[Observation] = []
            for device in self._devices:
                observations.extend(read(device))
            return observations

        return callback

    def _gauge(self, name: str, unit: str, description: str, read: Any) -> None:
        meter.create_observable_gauge(
            name, callbacks=[self._each(read)], unit=unit, description=description
        )

    def _counter(self, name: str, unit: str, description: str, read: Any) -> None:
        meter.create_observable_counter(
            name, callbacks=[self._each(read)], unit=unit, description=description
        )

    def _register(self) -> None:
        g, c = self._gauge, self._counter
        g("photon_device_info", "1", "1 per device, labelled with its driver and chip model", _info)
        g(
            "photon_sensor_temperature_celsius",
            "Cel",
            "Latest measured temperature of each on-die sensor (absent while it reads no number)",
            _sensor_temperatures,
        )
        g(
            "photon_device_hottest_point_estimated_celsius",
            "Cel",
            "The observer's estimate of the hottest limit point (a heater footprint or a "
            "sensor): the hot spot no sensor sees",
            _hottest,
        )
        g(
            "photon_device_temperature_limit_celsius",
            "Cel",
            'The device\'s limits: limit="max" (max_device_temperature) and '
            'limit="interlock" (the hard interlock)',
            _limits,
        )
        g(
            "photon_device_thermal_headroom_celsius",
            "Cel",
            "max_device_temperature minus the estimated hottest point (negative: above the limit)",
            _headroom,
        )
        g(
            "photon_zone_heater_power_watts",
            "W",
            "Power commanded to the heaters of each zone",
            _zone_power,
        )
        g(
            "photon_device_heater_power_watts",
            "W",
            "Power commanded to every heater of the device",
            _device_power,
        )
        c(
            "photon_device_heater_energy_joules",
            "J",
            "Energy the heaters were commanded to draw, over device time",
            _energy,
        )
        c(
            "photon_device_time_above_limit_seconds",
            "s",
            "Device seconds the estimated hottest point spent above max_device_temperature",
            _time_above,
        )
        g(
            "photon_device_interlock_tripped",
            "1",
            "1 while the hard interlock holds the device in its safe state",
            _tripped,
        )
        g(
            "photon_device_emergency_stopped",
            "1",
            "1 while an operator's emergency stop holds the device",
            _emergency,
        )
        c("photon_device_interlock_trips", "1", "Times the hard interlock tripped", _trips)
        g(
            "photon_device_breaker_state",
            "1",
            "The device circuit breaker: 1 for the state it is in (closed, open, half_open), "
            "0 for the others",
            _breaker,
        )
        g(
            "photon_device_serving",
            "1",
            "1 when jobs can be dispatched to the device (breaker closed, no hold, no error)",
            _serving,
        )
        c(
            "photon_replans",
            "1",
            "Re-plans of running jobs, by reason: forecast (over max - margin), drift (estimate "
            "off the planned trace), hold_cleared, restart",
            _replans,
        )
        c(
            "photon_replan_search_swaps",
            "1",
            "Plans the re-plan's background search found shorter and the loop swapped in",
            _searched,
        )
        g("photon_jobs", "1", "Jobs on the device now, by state (queued, running)", _jobs)
        g("photon_device_queue_length", "1", "Jobs waiting in the device's queue", _queue_length)
        g(
            "photon_control_loop_period_seconds",
            "s",
            "The control loop's configured period, in device seconds",
            _period,
        )
        g(
            "photon_control_loop_heartbeat_age_seconds",
            "s",
            "Wall seconds since the control loop last finished a pass (stalled when this grows)",
            _heartbeat_age,
        )
        c("photon_control_loop_passes", "1", "Control-loop passes since start", _passes)
        g(
            "photon_telemetry_last_sample_age_seconds",
            "s",
            "Wall seconds since the device's latest sensor sample",
            _sample_age,
        )
        c(
            "photon_telemetry_frames_dropped",
            "1",
            "Frames telemetry subscribers' queues folded into later ones because the client fell "
            "behind (every subscription, open or closed)",
            _dropped,
        )
        c(
            "photon_telemetry_samples_coalesced",
            "1",
            "Sensor readings replaced by a newer one of the same sensor in a subscriber's queue",
            _coalesced,
        )
        g("photon_telemetry_subscribers", "1", "Telemetry streams open on the device", _subscribers)
        for field, description in SERIAL_COUNTERS.items():
            c(f"photon_serial_{field}", "1", f"{description} (serial driver only)", _serial(field))
        meter.create_observable_gauge(
            "photon_planning_budget_seconds",
            callbacks=[_planning_budgets],
            unit="s",
            description="The optimiser's search budget of each level (fast: 0, one decode); "
            "the alert on slow planning compares planning time with it",
        )
        meter.create_observable_gauge(
            "photon_planning_in_flight",
            callbacks=[self._planning_in_flight],
            unit="1",
            description="Plans running or waiting in the planning processes",
        )

    def _planning_in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._planner.in_flight)]


def _planning_budgets(options: CallbackOptions) -> Iterable[Observation]:
    return [
        Observation(budget.time_s, {"level": level.name.lower()})
        for level, budget in BUDGETS.items()
    ]


def _device(device: ManagedDevice) -> dict[str, str]:
    return {"device": device.id}


def _info(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(
        1, {"device": device.id, "driver": device.driver_name, "model": device.profile.model}
    )


def _sensor_temperatures(device: ManagedDevice) -> Iterator[Observation]:
    frame = device.runtime.hub.latest
    if frame is None:
        return
    for sensor, value in zip(device.profile.sensors, frame.temperature_c, strict=True):
        if math.isfinite(value):
            yield Observation(value, {"device": device.id, "sensor": sensor.id})


def _hottest(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.control.estimate.hottest_c, _device(device))


def _limits(device: ManagedDevice) -> Iterator[Observation]:
    # The limits in force, which an admin may have set below the profile's (UpdateLimits).
    runtime = device.runtime
    yield Observation(runtime.control.max_c, {"device": device.id, "limit": "max"})
    yield Observation(runtime.interlock.trip_c, {"device": device.id, "limit": "interlock"})


def _headroom(device: ManagedDevice) -> Iterator[Observation]:
    control = device.runtime.control
    yield Observation(control.max_c - control.estimate.hottest_c, _device(device))


def _zone_power(device: ManagedDevice) -> Iterator[Observation]:
    powers_mw = device.runtime.heater_powers_mw
    index = {h: i for i, h in enumerate(device.runtime.control.heater_ids)}
    for zone in device.profile.zones:
        watts = sum(float(powers_mw[index[h]]) for h in zone.heater_ids) / 1000.0
        yield Observation(watts, {"device": device.id, "zone": zone.id})


def _device_power(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(float(device.runtime.heater_powers_mw.sum()) / 1000.0, _device(device))


def _energy(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.heater_energy_j, _device(device))


def _time_above(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.time_above_limit_s, _device(device))


def _tripped(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(int(device.runtime.interlock.tripped is not None), _device(device))


def _emergency(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(int(device.runtime.interlock.emergency is not None), _device(device))


def _trips(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.interlock.trips, _device(device))


def _breaker(device: ManagedDevice) -> Iterator[Observation]:
    state = device.runtime.breaker.state
    for candidate in BreakerState:
        yield Observation(int(candidate is state), {"device": device.id, "state": candidate.value})


def _serving(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(int(device.runtime.serving[0]), _device(device))


def _replans(device: ManagedDevice) -> Iterator[Observation]:
    counts = dict(device.runtime.control.stats.replans_by_kind)
    for kind in REPLAN_KINDS:
        yield Observation(counts.get(kind, 0), {"device": device.id, "reason": kind})


def _searched(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.control.stats.searched, _device(device))


def _jobs(device: ManagedDevice) -> Iterator[Observation]:
    running = int(bool(device.runtime.active[0]))
    yield Observation(device.runtime.queued_jobs, {"device": device.id, "state": "queued"})
    yield Observation(running, {"device": device.id, "state": "running"})


def _queue_length(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.queued_jobs, _device(device))


def _period(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.period_s, _device(device))


def _heartbeat_age(device: ManagedDevice) -> Iterator[Observation]:
    heartbeat = device.runtime.heartbeat
    if heartbeat.passes:  # the loop runs (not before READY: a cold start takes minutes)
        yield Observation(max(0.0, time.monotonic() - heartbeat.monotonic_s), _device(device))


def _passes(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.heartbeat.passes, _device(device))


def _sample_age(device: ManagedDevice) -> Iterator[Observation]:
    frame = device.runtime.hub.latest
    if frame is not None:
        yield Observation(max(0.0, time.time() - frame.wall_time_s), _device(device))


def _subscribers(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.hub.subscriber_count, _device(device))


def _dropped(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.hub.dropped_frames, _device(device))


def _coalesced(device: ManagedDevice) -> Iterator[Observation]:
    yield Observation(device.runtime.hub.coalesced_samples, _device(device))


def _serial(field: str) -> Callable[[ManagedDevice], Iterator[Observation]]:
    def read(device: ManagedDevice) -> Iterator[Observation]:
        counters = getattr(device.runtime.driver, "counters", None)
        if callable(counters):
            value = counters().get(field)
            if value is not None:
                yield Observation(value, _device(device))

    return read
