"""Telemetry fan-out: every sensor sample the control loop takes, offered to each subscriber.

The loop must never wait for a client. Each subscriber has a bounded queue; when a slow client
lets it fill, the oldest frame is dropped and counted (gNMI's coalescing), and the count is
sent with the next update so the client knows what it missed.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from photond.wakeup import Wakeup

DEFAULT_QUEUE_FRAMES = 256


@dataclass(frozen=True)
class Frame:
    """One reading of every sensor (profile order), as the control loop took it."""

    device_time_s: float
    wall_time_s: float
    temperature_c: tuple[float, ...]
    total_heater_power_mw: float


class Subscription:
    """One client's view of the stream: frames at most every `interval_s` of device time."""

    def __init__(
        self, interval_s: float, first_due_s: float | None, capacity: int = DEFAULT_QUEUE_FRAMES
    ) -> None:
        self.interval_s = interval_s
        self._frames: deque[Frame] = deque()
        self._capacity = capacity
        self._next_due_s = first_due_s
        self._lock = threading.Lock()
        self.dropped = 0
        self.wakeup = Wakeup()

    def offer(self, frame: Frame) -> None:
        """Called by the control loop for every sample; keeps the ones that are due."""
        with self._lock:
            # Sample times are sums of float periods; a nanosecond early still counts as due.
            if self._next_due_s is not None and frame.device_time_s < self._next_due_s - 1e-9:
                return
            due = self._next_due_s
            self._next_due_s = (
                frame.device_time_s + self.interval_s
                if due is None or due + self.interval_s <= frame.device_time_s
                else due + self.interval_s
            )
            if len(self._frames) >= self._capacity:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(frame)
        self.wakeup.notify()

    def take(self) -> list[Frame]:
        with self._lock:
            frames = list(self._frames)
            self._frames.clear()
        return frames

    async def next_frames(self) -> list[Frame]:
        """Wait until at least one frame is queued, then take them all."""
        event = self.wakeup.register()
        try:
            while True:
                frames = self.take()
                if frames:
                    return frames
                await event.wait()
                event.clear()
        finally:
            self.wakeup.unregister(event)


class TelemetryHub:
    """The subscribers of one device."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self.latest: Frame | None = None

    def subscribe(self, interval_s: float) -> tuple[Subscription, Frame | None]:
        """A new subscription and the snapshot it starts from (None before the first sample).

        The first streamed frame is due one interval after the snapshot, so that a client
        sees a regular series rather than two frames back to back.
        """
        snapshot = self.latest
        first_due_s = snapshot.device_time_s + interval_s if snapshot is not None else None
        subscription = Subscription(interval_s, first_due_s)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription, snapshot

    @property
    def subscriber_count(self) -> int:
        """Subscriptions open now (the metric photon_telemetry_subscribers reads it)."""
        return len(self._subscriptions)

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.remove(subscription)

    def publish(self, frame: Frame) -> None:
        self.latest = frame
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.offer(frame)
