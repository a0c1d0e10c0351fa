"""Telemetry fan-out: a slow subscriber loses the oldest frames, counted, never blocks."""

from __future__ import annotations

import asyncio

from photond.loop.telemetry import Frame, TelemetryHub


def frame(t_s: float) -> Frame:
    return Frame(
        device_time_s=t_s, wall_time_s=t_s, temperature_c=(25.0,), total_heater_power_mw=0.0
    )


def test_frames_are_offered_at_the_requested_interval() -> None:
    hub = TelemetryHub()
    hub.publish(frame(0.0))
    subscription, snapshot = hub.subscribe(interval_s=0.1)
    assert snapshot is not None and snapshot.device_time_s == 0.0
    for step in range(1, 51):  # a control loop sampling every 10 ms for 0.5 s
        hub.publish(frame(step * 0.01))
    times = [round(f.device_time_s, 3) for f in subscription.take()]
    assert times == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_slow_subscriber_drops_oldest_and_counts() -> None:
    hub = TelemetryHub()
    subscription, _ = hub.subscribe(interval_s=0.01)
    for step in range(1000):
        hub.publish(frame(step * 0.01))  # nobody reads: publish must still return at once
    frames = subscription.take()
    assert len(frames) == 256
    assert subscription.dropped == 1000 - 256
    assert frames[-1].device_time_s == 999 * 0.01, "the newest frames are kept"


def test_unsubscribed_client_gets_nothing_more() -> None:
    hub = TelemetryHub()
    subscription, _ = hub.subscribe(interval_s=0.01)
    hub.unsubscribe(subscription)
    hub.publish(frame(1.0))
    assert subscription.take() == []


def test_waiting_reader_is_woken_by_a_publish_from_another_thread() -> None:
    hub = TelemetryHub()
    subscription, _ = hub.subscribe(interval_s=0.01)

    async def read() -> list[Frame]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, lambda: loop.run_in_executor(None, hub.publish, frame(0.5)))
        return await asyncio.wait_for(subscription.next_frames(), timeout=10)

    assert [f.device_time_s for f in asyncio.run(read())] == [0.5]
