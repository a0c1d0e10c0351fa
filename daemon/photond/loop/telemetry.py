"""Telemetry hub: every frame the control loop takes, kept in history and fanned out.

The loop must never wait for a client, however many there are. `publish` (the loop's thread)
therefore does a fixed amount of work whatever the number of subscribers: it records the
sample in the history ring, appends the frame to a hand-over queue and, unless a wake-up is
already pending, wakes the fan-out once. The fan-out (`pump`, on the RPC side's event loop)
filters each frame's readings once for ON_CHANGE (`change_filter`, every frame, whatever each
subscriber's interval), offers each frame to every subscription (`subscription`: due times,
ON_CHANGE, coalescing) and wakes the senders. Frames are encoded once per view on the RPC side
and the same bytes go to every subscriber of that view (`photond.wire.frame_bytes`).

If the event loop falls behind the device loop by more than `HANDOVER_FRAMES`, the oldest
frames are lost for everyone; each subscription counts them in its `dropped_frames`.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from dataclasses import dataclass

from photond.loop.change_filter import DEFAULT_CHANGE_FILTER_S, ChangeFilter
from photond.loop.frame import Frame
from photond.loop.history import HistoryRing
from photond.loop.subscription import Subscription, SubscriptionSpec
from photond.wakeup import Wakeup

DEFAULT_QUEUE_FRAMES = 256
DEFAULT_HISTORY_S = 600.0
DEFAULT_STALL_TIMEOUT_S = 30.0
DEFAULT_WRITE_INTERVAL_S = 0.005
HANDOVER_FRAMES = 4096


@dataclass(frozen=True)
class TelemetryConfig:
    """The daemon's telemetry settings (config keys `telemetry_*`)."""

    # Device seconds of samples kept per sensor for GetHistory.
    history_s: float = DEFAULT_HISTORY_S
    # Pending frames per subscriber before the oldest are coalesced.
    queue_frames: int = DEFAULT_QUEUE_FRAMES
    # Wall seconds a subscriber may take nothing before it is closed (RESOURCE_EXHAUSTED).
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S
    # Device seconds each sensor's readings are averaged over before ON_CHANGE judges a change
    # (`change_filter`); 0 judges every raw reading.
    change_filter_s: float = DEFAULT_CHANGE_FILTER_S
    # Wall seconds from one write to a subscriber to its next (`rpc.telemetry_stream`): frames
    # that come sooner go out together in the next write's batch.
    write_interval_s: float = DEFAULT_WRITE_INTERVAL_S


class TelemetryHub:
    """The history and the subscribers of one device."""

    def __init__(
        self, sensors: int, period_s: float, config: TelemetryConfig | None = None
    ) -> None:
        self.config = config or TelemetryConfig()
        self.sensors = sensors
        self.period_s = period_s
        self.history = HistoryRing(sensors, max(2, math.ceil(self.config.history_s / period_s)))
        self.latest: Frame | None = None
        self._handover: deque[Frame] = deque(maxlen=HANDOVER_FRAMES)
        # Frames the hand-over queue let go of (written by the loop thread only), and how
        # many of those the fan-out has told its subscriptions about.
        self._lost = 0
        self._lost_told = 0
        self._pending_wakeup = threading.Event()
        self._wakeup = Wakeup()
        self._subscriptions: list[Subscription] = []
        # ON_CHANGE's filtered readings, on the RPC side: the fan-out's frames and snapshots.
        self._filter = ChangeFilter(sensors, self.config.change_filter_s)
        self._fanout: asyncio.Task[None] | None = None
        # What closed subscriptions had dropped and coalesced: the totals (metrics) go on.
        self._closed_dropped_frames = 0
        self._closed_coalesced_samples = 0
        # Why every stream ended (`close_all`), and the event a Poll stream, which holds no
        # subscription between its polls, waits on beside the client's next poll.
        self.closed_reason = ""
        self.closing = asyncio.Event()

    # -- the device loop's thread ---------------------------------------------------------------

    def publish(self, frame: Frame) -> None:
        self.latest = frame
        self.history.append(frame.device_time_s, frame.wall_time_s, frame.temperature_c)
        if not self._subscriptions:
            return
        if len(self._handover) == HANDOVER_FRAMES:
            self._lost += 1  # the append below pushes the oldest out
        self._handover.append(frame)
        if not self._pending_wakeup.is_set():
            self._pending_wakeup.set()
            self._wakeup.notify()

    # -- the RPC side's event loop --------------------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, spec: SubscriptionSpec) -> tuple[Subscription, Frame | None]:
        """A new subscription and the snapshot it starts from (None before the first sample).

        Call `Subscription.start_from` with the snapshot once it is decided whether it is sent.
        """
        subscription = Subscription(spec, self.config.queue_frames, self.sensors, self.period_s)
        latest = self.latest
        if latest is not None:
            # Changes count from the snapshot's filtered readings. The filter runs on handed-over
            # frames only, so after a time without subscribers this restarts it from the
            # snapshot (the frames in between are weighed out as a long gap is); a snapshot it
            # has seen changes nothing.
            subscription.start_judged_c = self._filter.update(
                latest.device_time_s, latest.temperature_c
            )
        self._subscriptions.append(subscription)
        self._ensure_fanout()
        return subscription, latest

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._closed_dropped_frames += subscription.dropped_frames
            self._closed_coalesced_samples += subscription.coalesced_samples

    def close_all(self, reason: str) -> None:
        """End every stream now, saying `reason` (the daemon stops: a stream never ends by
        itself, and the server's grace for calls in flight would otherwise wait for it).
        Call from the event loop."""
        self.closed_reason = reason
        self.closing.set()
        for subscription in list(self._subscriptions):
            subscription.closed = reason
            subscription.event.set()

    @property
    def dropped_frames(self) -> int:
        """Frames every subscription, open or closed, had folded into later ones."""
        live = sum(s.dropped_frames for s in list(self._subscriptions))
        return self._closed_dropped_frames + live

    @property
    def coalesced_samples(self) -> int:
        """Readings every subscription, open or closed, had replaced by newer ones."""
        live = sum(s.coalesced_samples for s in list(self._subscriptions))
        return self._closed_coalesced_samples + live

    def pump(self) -> None:
        """Offer every frame handed over since the last pump to every subscription."""
        self._pending_wakeup.clear()
        frames = []
        while self._handover:
            frames.append(self._handover.popleft())
        lost, self._lost_told = self._lost - self._lost_told, self._lost
        judged = [self._filter.update(f.device_time_s, f.temperature_c) for f in frames]
        subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            if lost > 0:
                subscription.dropped_frames += lost
                subscription.event.set()
            for frame, judged_c in zip(frames, judged, strict=True):
                subscription.offer(frame, judged_c)

    def _ensure_fanout(self) -> None:
        if self._fanout is None or self._fanout.done():
            # Registered now, not when the task first runs: a publish in between must wake it.
            event = self._wakeup.register()
            self._fanout = asyncio.get_running_loop().create_task(self._run_fanout(event))

    async def _run_fanout(self, event: asyncio.Event) -> None:
        try:
            while True:
                await event.wait()
                event.clear()
                self.pump()
        finally:
            self._wakeup.unregister(event)
