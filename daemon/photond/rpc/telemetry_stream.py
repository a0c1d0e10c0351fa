"""TelemetryService's work: check a subscription, stream it, answer polls and history.

`services.TelemetryService` is the thin servicer; this module turns a SubscribeRequest into a
checked `SubscriptionSpec` (every refusal names its field), writes the stream (layout,
snapshot, sync marker, then batches of frames encoded once per view, `wire.frame_bytes`), and
closes a subscriber whose writes have not completed for `telemetry_stall_timeout_s` with
RESOURCE_EXHAUSTED saying why. Writes go through `context.write` under a timeout rather than
a generator's `yield`, because a generator stuck in a write to a client that reads nothing
could never notice.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc

from photon.v1 import telemetry_pb2
from photond.loop.frame import Frame
from photond.loop.subscription import ON_CHANGE, SAMPLE, Pending, Subscription, SubscriptionSpec
from photond.loop.telemetry import TelemetryHub
from photond.rpc.devices import ManagedDevice
from photond.rpc.status import RequestError, invalid_argument, quoted, unavailable
from photond.wire import batch_item, frame_bytes, live_frame_to_proto, update_bytes

SYNC_BYTES = telemetry_pb2.TelemetryUpdate(sync_response=True).SerializeToString()


@dataclass(frozen=True)
class Checked:
    """A subscription as checked: what to stream, and the layout the stream opens with."""

    spec: SubscriptionSpec
    list_mode: int
    updates_only: bool
    layout: bytes


def check_subscription(
    request: telemetry_pb2.SubscribeRequest, device: ManagedDevice, poll: bool, prefix: str = ""
) -> Checked:
    """The request's fields checked against the device; RequestError names the bad field.

    `poll`: the request came as the Poll RPC's first message (`prefix` "subscribe.").
    """
    list_mode = request.list_mode or telemetry_pb2.LIST_MODE_STREAM
    if list_mode not in telemetry_pb2.ListMode.values():
        raise invalid_argument(f"{prefix}list_mode", f"unknown list mode {list_mode}")
    if poll and list_mode == telemetry_pb2.LIST_MODE_STREAM and request.list_mode:
        raise invalid_argument(f"{prefix}list_mode", "the Poll RPC polls: POLL or unset")
    if poll:
        list_mode = telemetry_pb2.LIST_MODE_POLL
    if not poll and list_mode == telemetry_pb2.LIST_MODE_POLL:
        raise invalid_argument(
            f"{prefix}list_mode", "POLL needs a client stream to poll with: use the Poll RPC"
        )
    if request.mode not in telemetry_pb2.SubscriptionMode.values():
        raise invalid_argument(f"{prefix}mode", f"unknown subscription mode {request.mode}")
    on_change = request.mode == telemetry_pb2.SUBSCRIPTION_MODE_ON_CHANGE
    selection = selection_of(list(request.sensor_ids), device, prefix)
    if list_mode != telemetry_pb2.LIST_MODE_STREAM:
        # A snapshot on request: nothing is sampled, checked or repeated.
        name = telemetry_pb2.ListMode.Name(list_mode).removeprefix("LIST_MODE_")
        for field, given in (
            ("mode", on_change),
            ("sample_interval_s", request.sample_interval_s != 0),
            ("deadband_c", request.deadband_c != 0),
            ("heartbeat_interval_s", request.heartbeat_interval_s != 0),
            ("suppress_redundant", request.suppress_redundant),
        ):
            if given:
                raise invalid_argument(
                    f"{prefix}{field}", f"applies to STREAM subscriptions; {name} sends snapshots"
                )
        spec = SubscriptionSpec(selection=selection)
    else:
        spec = _stream_spec(request, device, selection, on_change, prefix)
    sensors = device.profile.sensors
    ids = [sensors[i].id for i in selection] if selection is not None else [s.id for s in sensors]
    layout = telemetry_pb2.TelemetryUpdate(
        layout=telemetry_pb2.SensorLayout(
            device_id=device.id,
            sensor_ids=ids,
            zone_ids=[z.id for z in device.profile.zones],
            heater_ids=[h.id for h in device.profile.heaters],
        )
    ).SerializeToString()
    return Checked(spec, list_mode, request.updates_only, layout)


def selection_of(ids: list[str], device: ManagedDevice, prefix: str) -> tuple[int, ...] | None:
    if not ids:
        return None
    index = {s.id: i for i, s in enumerate(device.profile.sensors)}
    chosen: list[int] = []
    for n, sensor_id in enumerate(ids):
        field = f"{prefix}sensor_ids[{n}]"
        if sensor_id not in index:
            raise invalid_argument(field, f"no sensor {quoted(sensor_id)} on {device.id}")
        if index[sensor_id] in chosen:
            raise invalid_argument(field, f"sensor {quoted(sensor_id)} is listed twice")
        chosen.append(index[sensor_id])
    return tuple(chosen)


def _stream_spec(
    request: telemetry_pb2.SubscribeRequest,
    device: ManagedDevice,
    selection: tuple[int, ...] | None,
    on_change: bool,
    prefix: str,
) -> SubscriptionSpec:
    sensors = device.profile.sensors
    chosen = [sensors[i] for i in selection] if selection is not None else list(sensors)
    slowest = max(chosen, key=lambda s: s.min_sample_period_s)
    period_s = device.runtime.period_s
    floor_s = max(period_s, slowest.min_sample_period_s)
    interval_s = request.sample_interval_s
    if not math.isfinite(interval_s) or interval_s < 0:
        raise invalid_argument(f"{prefix}sample_interval_s", f"must be >= 0, got {interval_s}")
    if interval_s and interval_s < floor_s - 1e-12:
        why = (
            f"the control loop's sampling period {period_s:g} s"
            if floor_s == period_s
            else f"sensor {slowest.id}'s min_sample_period_s"
        )
        raise invalid_argument(
            f"{prefix}sample_interval_s",
            f"must be 0 (the fastest) or at least {floor_s:g} s ({why}), got {interval_s}",
        )
    # 0: every sample the loop takes, unless a selected sensor cannot be read that fast.
    interval_s = interval_s or (0.0 if floor_s <= period_s else floor_s)
    deadband_c = request.deadband_c
    if not on_change and deadband_c:
        # Silently ignoring it would send the client every sample it asked not to see.
        raise invalid_argument(
            f"{prefix}deadband_c",
            "applies to ON_CHANGE subscriptions only; SAMPLE sends every sample",
        )
    if not (math.isfinite(deadband_c) and deadband_c >= 0):
        raise invalid_argument(f"{prefix}deadband_c", f"must be >= 0 °C, got {deadband_c}")
    if on_change and request.suppress_redundant:
        raise invalid_argument(
            f"{prefix}suppress_redundant", "applies to SAMPLE; ON_CHANGE sends changes only"
        )
    heartbeat_s = request.heartbeat_interval_s
    if not (math.isfinite(heartbeat_s) and heartbeat_s >= 0):
        raise invalid_argument(f"{prefix}heartbeat_interval_s", f"must be >= 0, got {heartbeat_s}")
    if heartbeat_s and not (on_change or request.suppress_redundant):
        raise invalid_argument(
            f"{prefix}heartbeat_interval_s",
            "applies to ON_CHANGE or to SAMPLE with suppress_redundant: plain SAMPLE sends "
            "every reading anyway",
        )
    return SubscriptionSpec(
        mode=ON_CHANGE if on_change else SAMPLE,
        interval_s=interval_s,
        deadband_c=deadband_c,
        heartbeat_s=heartbeat_s,
        suppress_redundant=request.suppress_redundant,
        selection=selection,
    )


def snapshot_bytes(frame: Frame | None, selection: tuple[int, ...] | None) -> bytes | None:
    """A TelemetryUpdate with `frame` as the view's whole frame (None before any sample)."""
    if frame is None:
        return None
    return update_bytes([frame_bytes(frame, selection)], 0, 0)


def _encoded(pending: Pending, selection: tuple[int, ...] | None) -> bytes:
    if pending.positions is None and not pending.readings:
        return frame_bytes(pending.frame, selection)
    message = live_frame_to_proto(pending.frame, selection, pending.positions, pending.readings)
    return batch_item(message.SerializeToString())


async def next_poll(
    requests: AsyncIterator[telemetry_pb2.PollRequest], hub: TelemetryHub
) -> telemetry_pb2.PollRequest | None:
    """The Poll client's next message (None once it has closed its side), or UNAVAILABLE saying
    why as soon as the daemon stops: between its polls a Poll stream holds no subscription for
    `TelemetryHub.close_all` to end, and would otherwise wait out the server's grace."""
    if hub.closed_reason:
        raise unavailable(hub.closed_reason)
    reading = asyncio.ensure_future(anext(requests, None))
    closing = asyncio.ensure_future(hub.closing.wait())
    try:
        await asyncio.wait((reading, closing), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the call itself cancelled: leave no read behind
        reading.cancel()
        raise
    finally:
        closing.cancel()
    if not reading.done():
        reading.cancel()
        raise unavailable(hub.closed_reason)
    return reading.result()


async def stream_updates(
    subscription: Subscription, context: Any, stall_timeout_s: float, write_interval_s: float = 0.0
) -> None:
    """Send what the subscription queues until the client goes; a client that takes nothing
    for `stall_timeout_s` is closed with RESOURCE_EXHAUSTED.

    Writes are at least `write_interval_s` apart (wall time): what comes sooner waits and goes
    in the next write's batch. A write costs the event loop about the same whatever it carries
    (grpc sends it from this thread: a sendmsg and a wake-up of its poller, interpreter held),
    so a 1 kHz loop's frames written one by one to tens of subscribers kept the interpreter
    from the device loop, which then skipped periods. A loop slower than the interval (the
    default chip's 10 ms against 5 ms) still has every frame written as soon as it is taken.
    """
    selection = subscription.spec.selection
    loop = asyncio.get_running_loop()
    next_write_s = -math.inf
    while True:
        # Closed while the last batch was written (which cleared the event): no wait.
        if not subscription.closed:
            await subscription.event.wait()
        if subscription.closed:
            raise unavailable(subscription.closed)
        wait_s = next_write_s - loop.time()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        next_write_s = loop.time() + write_interval_s
        pending = subscription.take()
        if not pending and not subscription.dropped_frames:
            continue
        data = update_bytes(
            [_encoded(p, selection) for p in pending],
            subscription.dropped_frames,
            subscription.coalesced_samples,
        )
        await write(
            context,
            data,
            stall_timeout_s,
            f"; by then {subscription.dropped_frames} frames had been folded into later ones "
            f"and {subscription.coalesced_samples} readings replaced by newer ones",
        )


async def write(context: Any, data: bytes, stall_timeout_s: float, counts: str = "") -> None:
    """Write one message; a client that takes nothing for `stall_timeout_s` meanwhile is
    closed with RESOURCE_EXHAUSTED saying why."""
    try:
        # A timeout scope, not wait_for: that wraps every write in a task of its own, a cost
        # per write and subscriber on the event loop the device loop shares an interpreter with.
        async with asyncio.timeout(stall_timeout_s):
            await context.write(data)
    except grpc.aio.AbortError:
        raise
    except TimeoutError:
        raise RequestError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"telemetry subscriber closed: it took nothing for {stall_timeout_s:g} s "
            f"(the daemon's telemetry_stall_timeout_s) while frames waited{counts}",
        ) from None
    except Exception as error:
        # A client that goes away while a write is in flight makes grpc raise its internal
        # ExecuteBatchError (not exported: matched by name) before the call shows as done:
        # the stream ends as a cancellation does, not as the daemon's error. Any other
        # failure of a write on a live call is one.
        if context.done() or type(error).__name__ == "ExecuteBatchError":
            raise asyncio.CancelledError from None
        raise
