"""Telemetry fan-out, subscriptions (SAMPLE, ON_CHANGE, coalescing), history and health."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from photond.config import ConfigError, load_config
from photond.loop.frame import Frame
from photond.loop.health import device_health
from photond.loop.history import HistoryRing, bucketize
from photond.loop.subscription import ON_CHANGE, SAMPLE, Subscription, SubscriptionSpec
from photond.loop.telemetry import TelemetryConfig, TelemetryHub


def frame(t_s: float, *temps: float) -> Frame:
    return Frame(
        device_time_s=t_s,
        wall_time_s=t_s,
        temperature_c=temps or (25.0,),
        total_heater_power_mw=0.0,
    )


def times(subscription: Subscription) -> list[float]:
    return [round(p.frame.device_time_s, 3) for p in subscription.take()]


def test_sample_frames_come_at_the_requested_interval() -> None:
    subscription = Subscription(SubscriptionSpec(interval_s=0.1), 256, 1)
    subscription.start_from(frame(0.0), sent=True)
    for step in range(1, 51):  # a control loop sampling every 10 ms for 0.5 s
        subscription.offer(frame(step * 0.01))
    assert times(subscription) == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_a_subscriber_at_the_control_period_gets_every_frame_of_a_jittery_loop() -> None:
    # Each pass reads a little earlier or later in its period than the first one did.
    jitter_s = [0.0, -0.002, 0.003, -0.004, 0.0, 0.004, -0.0045, 0.001, -0.001, 0.0]
    subscription = Subscription(SubscriptionSpec(interval_s=0.01), 256, 1, period_s=0.01)
    subscription.start_from(frame(0.0005), sent=True)
    sent = [0.01 * (k + 1) + 0.0005 + j for k, j in enumerate(jitter_s)]
    for t_s in sent:
        subscription.offer(frame(t_s))
    assert times(subscription) == [round(t_s, 3) for t_s in sent]


def test_a_slower_interval_still_samples_on_its_own_grid_with_a_jittery_loop() -> None:
    subscription = Subscription(SubscriptionSpec(interval_s=0.025), 256, 1, period_s=0.01)
    subscription.start_from(frame(0.0), sent=True)
    for step in range(1, 21):  # 10 ms passes, each up to 3 ms early or late
        subscription.offer(frame(step * 0.01 + (0.003 if step % 2 else -0.003)))
    # Due at 25, 50, 75 ... ms: the first pass after each, or less than half a period before.
    assert times(subscription) == [0.033, 0.053, 0.073, 0.097, 0.133, 0.153, 0.173, 0.197]


def test_interval_zero_sends_every_sample_after_the_snapshot() -> None:
    subscription = Subscription(SubscriptionSpec(interval_s=0.0), 256, 1)
    subscription.start_from(frame(0.05), sent=True)
    for step in range(10):
        subscription.offer(frame(step * 0.01))
    assert times(subscription) == [0.06, 0.07, 0.08, 0.09]


def test_a_full_queue_folds_the_oldest_frames_and_counts_them() -> None:
    subscription = Subscription(SubscriptionSpec(), 4, 3)
    for step in range(10):
        subscription.offer(frame(step * 0.01, 25.0 + step, 26.0, 27.0))
    pending = subscription.take()
    assert [round(p.frame.device_time_s, 2) for p in pending] == [0.06, 0.07, 0.08, 0.09]
    assert subscription.dropped_frames == 6
    assert subscription.coalesced_samples == 6 * 3, "every reading had a newer one"
    assert all(p.positions is None and not p.readings for p in pending)


def test_coalescing_keeps_a_reading_only_the_older_frame_had_with_its_time() -> None:
    spec = SubscriptionSpec(mode=ON_CHANGE, deadband_c=0.5)
    subscription = Subscription(spec, 2, 2)
    subscription.start_from(frame(0.0, 25.0, 25.0), sent=True)
    subscription.offer(frame(0.01, 30.0, 25.0))  # sensor 0 moved
    subscription.offer(frame(0.02, 30.0, 31.0))  # sensor 1 moved
    subscription.offer(frame(0.03, 35.0, 31.0))  # sensor 0 again: the queue overflows
    first, last = subscription.take()
    # The 0.01 frame was folded into the 0.02 one: sensor 0's reading kept, from 0.01.
    assert first.frame.device_time_s == 0.02
    assert first.positions is None and first.readings == {0: (30.0, 0.01)}
    assert last.positions == (0,) and last.frame.temperature_c == (35.0, 31.0)
    assert subscription.dropped_frames == 1 and subscription.coalesced_samples == 0


def test_on_change_sends_only_moves_beyond_the_deadband() -> None:
    spec = SubscriptionSpec(mode=ON_CHANGE, deadband_c=0.1)
    subscription = Subscription(spec, 256, 2)
    subscription.start_from(frame(0.0, 25.0, 40.0), sent=True)
    subscription.offer(frame(0.01, 25.05, 40.0))  # within the deadband: nothing
    subscription.offer(frame(0.02, 25.08, 40.09))  # still within
    subscription.offer(frame(0.03, 25.2, 40.0))  # sensor 0 moved by 0.2 from what was sent
    subscription.offer(frame(0.04, 25.25, math.nan))  # sensor 1 failed: a change
    subscription.offer(frame(0.05, 25.25, math.nan))  # NaN to NaN: no change
    pending = subscription.take()
    assert [(p.frame.device_time_s, p.positions) for p in pending] == [
        (0.03, (0,)),
        (0.04, (1,)),
    ]


def test_on_change_heartbeat_resends_an_unchanged_sensor() -> None:
    spec = SubscriptionSpec(mode=ON_CHANGE, deadband_c=1.0, heartbeat_s=0.05)
    subscription = Subscription(spec, 256, 1)
    subscription.start_from(frame(0.0, 25.0), sent=True)
    for step in range(1, 11):
        subscription.offer(frame(step * 0.01, 25.0))
    assert times(subscription) == [0.05, 0.1]


def test_suppress_redundant_leaves_out_unchanged_readings() -> None:
    spec = SubscriptionSpec(mode=SAMPLE, suppress_redundant=True)
    subscription = Subscription(spec, 256, 2)
    subscription.start_from(frame(0.0, 25.0, 30.0), sent=True)
    subscription.offer(frame(0.01, 25.0, 30.0))
    subscription.offer(frame(0.02, 25.01, 30.0))
    pending = subscription.take()
    assert [(p.frame.device_time_s, p.positions) for p in pending] == [(0.02, (0,))]


def test_a_selection_watches_only_its_sensors() -> None:
    spec = SubscriptionSpec(mode=ON_CHANGE, selection=(2,))
    subscription = Subscription(spec, 256, 3)
    subscription.start_from(frame(0.0, 25.0, 25.0, 25.0), sent=True)
    subscription.offer(frame(0.01, 30.0, 30.0, 25.0))  # unselected sensors moved
    subscription.offer(frame(0.02, 30.0, 30.0, 26.0))
    assert [p.positions for p in subscription.take()] == [(0,)]  # layout position of s2


def test_publish_does_the_same_work_however_many_subscribe() -> None:
    async def run() -> None:
        hub = TelemetryHub(1, 0.01, TelemetryConfig(history_s=1.0))
        subscriptions = [hub.subscribe(SubscriptionSpec())[0] for _ in range(500)]
        for step in range(3):
            hub.publish(frame(step * 0.01))
        # The loop's thread only handed the frames over; no subscriber has been touched.
        assert all(not s.event.is_set() for s in subscriptions)
        hub.pump()
        assert all(len(s.take()) == 3 for s in subscriptions)

    asyncio.run(run())


def test_the_fanout_wakes_a_reader_on_a_publish_from_another_thread() -> None:
    async def run() -> None:
        hub = TelemetryHub(1, 0.01)
        subscription, _ = hub.subscribe(SubscriptionSpec())
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, hub.publish, frame(0.5))
        await asyncio.wait_for(subscription.event.wait(), timeout=10)
        assert times(subscription) == [0.5]
        hub.unsubscribe(subscription)
        hub.publish(frame(0.6))
        hub.pump()
        assert subscription.take() == []

    asyncio.run(run())


def idle_readings(change_filter_s: float, deadband_c: float) -> tuple[int, int]:
    """Readings SAMPLE and ON_CHANGE (at `deadband_c`) are each sent over 20 s of a 16-sensor
    chip at rest whose sensors have 0.05 °C of noise (the shipped sensors'), 10 ms samples."""

    async def run() -> tuple[int, int]:
        config = TelemetryConfig(history_s=1.0, queue_frames=4096, change_filter_s=change_filter_s)
        hub = TelemetryHub(16, 0.01, config)
        rng = np.random.default_rng(7)
        hub.publish(frame(0.0, *(25.0 + rng.normal(0, 0.05, 16))))
        sample, _ = hub.subscribe(SubscriptionSpec())
        on_change, snapshot = hub.subscribe(SubscriptionSpec(mode=ON_CHANGE, deadband_c=deadband_c))
        for s in (sample, on_change):
            s.start_from(snapshot, sent=True)
        counts = [0, 0]
        for step in range(1, 2001):
            hub.publish(frame(step * 0.01, *(25.0 + rng.normal(0, 0.05, 16))))
            hub.pump()
            for n, s in enumerate((sample, on_change)):
                for p in s.take():
                    counts[n] += 16 if p.positions is None else len(p.positions)
        return counts[0], counts[1]

    return asyncio.run(run())


def test_on_change_judges_the_filtered_reading_so_noise_is_not_a_change() -> None:
    sample, filtered = idle_readings(0.02, 0.1)
    assert sample == 2000 * 16
    assert filtered * 10 <= sample, (sample, filtered)
    # telemetry_change_filter_s = 0 judges raw readings: noise crosses 0.1 °C often.
    _, raw = idle_readings(0.0, 0.1)
    assert raw * 10 > sample and raw > 10 * filtered, (sample, raw, filtered)


def test_on_change_sends_the_raw_reading_of_a_sensor_whose_filtered_value_moved() -> None:
    async def run() -> None:
        hub = TelemetryHub(2, 0.01, TelemetryConfig(history_s=1.0))
        hub.publish(frame(0.0, 25.0, 25.0))
        subscription, snapshot = hub.subscribe(SubscriptionSpec(mode=ON_CHANGE, deadband_c=0.1))
        subscription.start_from(snapshot, sent=True)
        hub.publish(frame(0.01, 25.15, 25.0))  # filtered: +0.059, within the deadband
        hub.pump()
        assert subscription.take() == []
        hub.publish(frame(0.02, 25.3, 25.0))  # filtered: +0.154 from the last one sent
        hub.pump()
        (sent,) = subscription.take()
        assert sent.positions == (0,) and sent.frame.temperature_c[0] == 25.3

    asyncio.run(run())


def test_history_keeps_the_newest_samples_of_its_capacity() -> None:
    ring = HistoryRing(2, capacity=100)
    for step in range(250):
        ring.append(step * 0.01, 1000 + step * 0.01, (float(step), -float(step)))
    window = ring.window(0.0, 10.0)
    assert len(window.device_time_s) == 100
    assert window.device_time_s[0] == pytest.approx(1.5) == window.retained_from_s
    assert window.temperature_c[-1].tolist() == [249.0, -249.0]
    part = ring.window(2.0, 2.05)
    assert part.device_time_s.tolist() == pytest.approx([2.0, 2.01, 2.02, 2.03, 2.04, 2.05])


def test_buckets_give_min_max_mean_and_skip_nan() -> None:
    ring = HistoryRing(2, capacity=1000)
    for step in range(100):  # 1 s at 10 ms: sensor 0 ramps, sensor 1 fails half the time
        ring.append(step * 0.01, 0.0, (float(step), math.nan if step % 2 else 5.0))
    buckets = bucketize(ring.window(0.0, 1.0), 0.0, 1.0, 0.25)
    assert buckets.start_s.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert buckets.samples.tolist() == [25, 25, 25, 25]
    assert buckets.min_c[:, 0].tolist() == [0.0, 25.0, 50.0, 75.0]
    assert buckets.max_c[:, 0].tolist() == [24.0, 49.0, 74.0, 99.0]
    assert buckets.mean_c[:, 0].tolist() == pytest.approx([12.0, 37.0, 62.0, 87.0])
    assert buckets.mean_c[:, 1].tolist() == [5.0] * 4


def test_empty_buckets_have_no_samples_and_nan_figures() -> None:
    ring = HistoryRing(1, capacity=10)
    ring.append(0.0, 0.0, (1.0,))
    buckets = bucketize(ring.window(0.0, 2.0), 0.0, 2.0, 1.0)
    assert buckets.samples.tolist() == [1, 0]
    assert buckets.min_c[0, 0] == 1.0 and np.isnan(buckets.min_c[1, 0])


def health(**changes: object) -> tuple[float, tuple[str, ...]]:
    values: dict[str, object] = {
        "sensor_ids": ("s0", "s1", "s2", "s3"),
        "failed": (),
        "distrusted": {},
        "breaker_state": "closed",
        "interlock": "",
        "hottest_c": 40.0,
        "max_c": 85.0,
        "lateness_s": 0.0,
        "period_s": 0.01,
    }
    values.update(changes)
    result = device_health(**values)  # type: ignore[arg-type]
    return result.score, result.reasons


def test_a_healthy_device_scores_one_without_reasons() -> None:
    assert health() == (1.0, ())


def test_each_concern_lowers_the_score_and_says_why() -> None:
    score, reasons = health(failed=(1,), distrusted={"s2": "stuck: 30.00 °C for 25 samples"})
    assert score == pytest.approx(0.5)
    assert reasons == (
        "sensor s1 failed: no reading (not a number)",
        "sensor s2 distrusted: stuck: 30.00 °C for 25 samples",
    )
    assert health(breaker_state="open")[0] == 0.0
    assert health(breaker_state="half-open")[0] == 0.5
    assert health(interlock="s1 read 96 °C")[0] == 0.0
    score, reasons = health(hottest_c=80.0)
    assert score == pytest.approx(0.5) and "thermal headroom 5.0 °C" in reasons[0]
    score, reasons = health(lateness_s=0.02)
    assert score == pytest.approx(0.5) and "control loop late: 20.0 ms" in reasons[0]
    assert health(lateness_s=0.004)[0] == 1.0


def test_the_hub_totals_what_its_subscriptions_dropped_and_coalesced_closed_or_open() -> None:
    async def run() -> None:
        hub = TelemetryHub(3, 0.01, TelemetryConfig(history_s=1.0, queue_frames=4))
        slow, _ = hub.subscribe(SubscriptionSpec())
        gone, _ = hub.subscribe(SubscriptionSpec())
        for step in range(10):
            hub.publish(frame(step * 0.01, 25.0 + step, 26.0, 27.0))
        hub.pump()
        assert (slow.dropped_frames, slow.coalesced_samples) == (6, 18)
        hub.unsubscribe(gone)  # its counts stay in the totals (metrics never go down)
        assert (hub.dropped_frames, hub.coalesced_samples) == (12, 36)
        assert hub.subscriber_count == 1

    asyncio.run(run())


def test_telemetry_settings_come_from_the_file_the_environment_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "photond.toml"
    path.write_text("telemetry_history_s = 120\ntelemetry_queue_frames = 16\n")
    config = load_config(path, {"PHOTON_TELEMETRY_STALL_TIMEOUT_S": "7.5"}, {})
    assert config.telemetry == TelemetryConfig(120.0, 16, 7.5)
    config = load_config(path, {}, {"telemetry_queue_frames": 32, "telemetry_history_s": None})
    assert config.telemetry.queue_frames == 32 and config.telemetry.history_s == 120.0
    with pytest.raises(ConfigError, match="telemetry_queue_frames"):
        load_config(None, {}, {"telemetry_queue_frames": 1})
    with pytest.raises(ConfigError, match="telemetry_stall_timeout_s"):
        load_config(None, {"PHOTON_TELEMETRY_STALL_TIMEOUT_S": "0"}, {})
    with pytest.raises(ConfigError, match="telemetry_history_s"):
        path.write_text("telemetry_history_s = -1\n")
        load_config(path, {}, {})
    path.write_text("telemetry_change_filter_s = 0.05\n")
    assert load_config(path, {}, {}).telemetry.change_filter_s == 0.05
    config = load_config(path, {"PHOTON_TELEMETRY_CHANGE_FILTER_S": "0"}, {})
    assert config.telemetry.change_filter_s == 0.0
    config = load_config(path, {}, {"telemetry_change_filter_s": 0.1})
    assert config.telemetry.change_filter_s == 0.1
    with pytest.raises(ConfigError, match="telemetry_change_filter_s"):
        load_config(None, {}, {"telemetry_change_filter_s": -1.0})
    path.write_text("telemetry_write_interval_s = 0.02\n")
    assert load_config(path, {}, {}).telemetry.write_interval_s == 0.02
    config = load_config(path, {"PHOTON_TELEMETRY_WRITE_INTERVAL_S": "0"}, {})
    assert config.telemetry.write_interval_s == 0.0
    config = load_config(path, {}, {"telemetry_write_interval_s": 0.1})
    assert config.telemetry.write_interval_s == 0.1
    with pytest.raises(ConfigError, match="telemetry_write_interval_s"):
        load_config(None, {}, {"telemetry_write_interval_s": 2.0})


def test_the_hub_keeps_history_s_of_samples_and_queues_queue_frames() -> None:
    async def run() -> None:
        hub = TelemetryHub(1, 0.01, TelemetryConfig(history_s=2.0, queue_frames=8))
        for step in range(1000):
            hub.publish(frame(step * 0.01))
        window = hub.history.window(0.0, 100.0)
        assert len(window.device_time_s) == 200  # 2 s of 10 ms samples
        subscription, _ = hub.subscribe(SubscriptionSpec())
        for step in range(1000, 1100):
            hub.publish(frame(step * 0.01))
        hub.pump()
        assert len(subscription.take()) == 8 and subscription.dropped_frames == 92

    asyncio.run(run())


def test_the_history_rings_memory_is_resident_from_the_start_not_taken_as_it_fills() -> None:
    # An operator watching RSS saw it creep up for the history's first 600 s, like a leak. In a
    # fresh process: one that freed large blocks before may reuse pages already resident.
    script = (
        "from photond.memory import process_memory\n"
        "from photond.loop.history import HistoryRing\n"
        "before_mb = process_memory().rss_mb\n"
        "ring = HistoryRing(16, 60_000)\n"  # the default chip's 600 s at 100 samples/s: 8.6 MB
        "print(process_memory().rss_mb - before_mb)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) > 6
    ring = HistoryRing(16, 10)
    ring.append(0.0, 0.0, [20.0] * 16)
    assert ring.window(0.0, 1.0).temperature_c.shape == (1, 16)
