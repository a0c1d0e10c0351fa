"""Telemetry through the SDK against a real photond: modes, ON_CHANGE, slow subscribers,
history, and bad input refused by name."""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon, thread_names
from photon.v1 import telemetry_pb2, telemetry_pb2_grpc
from photon_sdk import (
    AsyncClient,
    Cancelled,
    Client,
    InvalidArgument,
    ResourceExhausted,
    SensorState,
    TaskGraph,
    TelemetryFrame,
    TelemetryStream,
)
from test_metrics_endpoint import scrape, value

pytestmark = pytest.mark.integration

STALL_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def daemon() -> Iterator[RunningDaemon]:
    """A daemon that closes stalled subscribers after a few seconds (the default is 30)."""
    running = start_daemon(None, "--telemetry-stall-timeout-s", str(STALL_TIMEOUT_S))
    yield running
    cleanup(running)


def take(stream: Iterator[TelemetryFrame], n: int) -> list[TelemetryFrame]:
    return [next(stream) for _ in range(n)]


def synced(stream: TelemetryStream) -> bool:
    # A function, so a type checker does not carry what it read before across a read.
    return stream.synced


def test_stream_opens_with_a_snapshot_then_samples_at_the_interval(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client, client.subscribe("sim0", 0.05) as stream:
        snapshot = next(stream)
        assert not synced(stream), "the snapshot comes before the sync marker"
        frames = take(stream, 5)
        assert synced(stream)
    # On the grid of the snapshot's time: at most one frame per 0.05 s cell (a late loop may
    # bring one closer to the next, never two into one cell). A frame counts for its cell from
    # less than half a control period (10 ms by default) before it: a pass reads its sensors a
    # little earlier or later in its period each time.
    early_s = 0.5 * 0.01
    cells = [
        math.floor((f.device_time_s - snapshot.device_time_s + early_s) / 0.05 + 1e-6)
        for f in frames
    ]
    assert cells == sorted(set(cells)) and cells[0] >= 1, cells
    frame = frames[-1]
    assert frame.device_time_s > snapshot.device_time_s
    assert len(frame.temperature_c) == 16 and not frame.partial
    assert set(frame.zone_power_mw) == {z.id for z in client_device(daemon).zones}
    assert len(frame.estimated_heater_temperature_c) == 64
    assert frame.health is not None and 0.0 <= frame.health.score <= 1.0
    assert frame.job is None  # nothing runs


def client_device(daemon: RunningDaemon):  # type: ignore[no-untyped-def]
    with Client(daemon.target) as client:
        return client.get_device("sim0")


def test_updates_only_skips_the_snapshot(daemon: RunningDaemon) -> None:
    with (
        Client(daemon.target) as client,
        client.subscribe("sim0", 0.05, updates_only=True) as stream,
    ):
        next(stream)
        assert stream.synced, "the first frame came after the sync marker"


def test_once_answers_a_snapshot_of_the_selected_sensors(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        whole = client.snapshot("sim0")
        some = client.snapshot("sim0", sensor_ids=["s33", "s00"])
    assert len(whole.temperature_c) == 16
    assert list(some.temperature_c) == ["s33", "s00"]


def test_poll_answers_a_snapshot_per_poll(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client, client.poll("sim0", sensor_ids=["s11"]) as poller:
        assert poller.initial is not None and list(poller.initial.temperature_c) == ["s11"]
        first = poller.poll()
        time.sleep(0.2)
        second = poller.poll()
    assert first is not None and second is not None
    assert second.device_time_s > first.device_time_s >= poller.initial.device_time_s

    async def run() -> None:
        async with AsyncClient(daemon.target) as client:
            poller = await client.poll("sim0")
            try:
                assert poller.initial is not None
                frame = await poller.poll()
                assert frame is not None and len(frame.temperature_c) == 16
            finally:
                await poller.aclose()
            once = await client.snapshot("sim0", sensor_ids=["s01"])
            assert list(once.temperature_c) == ["s01"]

    asyncio.run(run())


def heating_job() -> TaskGraph:
    graph = TaskGraph()
    graph.add_task(
        "heat",
        duration_s=3.0,
        heater_power_mw={f"h{r}{c}": 15.0 for r in range(4) for c in range(4)},
    )
    return graph


def test_on_change_sends_raw_readings_of_moves_beyond_the_deadband(daemon: RunningDaemon) -> None:
    # ON_CHANGE judges each sensor's filtered reading; what it sends is the raw reading, the
    # very one SAMPLE sends for that instant.
    sampled, changed, job_id = sample_beside_on_change(daemon, heating_job(), 0.5)
    assert all(f.job.job_id == job_id and f.job.tasks_total == 1 for f in changed if f.job)
    raw = {
        (sensor_id, t): v
        for sensor_id in sampled[0].temperature_c
        for t, v in reading_times(sampled, sensor_id)
    }
    sent = [
        ((sensor_id, t), v)
        for sensor_id in sampled[0].temperature_c
        for t, v in reading_times(changed[1:], sensor_id)  # after the snapshot
    ]
    assert len(sent) >= 20, "the heating moved readings beyond 0.5 °C"
    assert len(sent) * 5 <= len(raw), (len(sent), len(raw))
    assert all(raw[key] == value for key, value in sent if key in raw)
    assert sum(key in raw for key, _ in sent) >= 0.9 * len(sent), "the same instants"


def test_on_change_heartbeat_resends_unchanged_readings(daemon: RunningDaemon) -> None:
    with (
        Client(daemon.target) as client,
        client.subscribe("sim0", 0.0, deadband_c=1000.0, heartbeat_interval_s=0.5) as stream,
    ):
        frames = take(stream, 4)
    gaps = [b.device_time_s - a.device_time_s for a, b in itertools.pairwise(frames)]
    assert all(g >= 0.5 - 1e-6 for g in gaps), gaps
    assert all(len(f.temperature_c) == 16 for f in frames[1:]), "every sensor was due"


def read_until(
    stream: TelemetryStream, frames: list[TelemetryFrame], stop: threading.Event
) -> None:
    try:
        for frame in stream:
            frames.append(frame)
            if stop.is_set():
                return
    except Cancelled:
        pass


def sample_beside_on_change(
    daemon: RunningDaemon,
    graph: TaskGraph,
    deadband_c: float,
    *,
    sensor_ids: list[str] | None = None,
    frames_before: int = 0,
) -> tuple[list[TelemetryFrame], list[TelemetryFrame], str]:
    """The frames of a SAMPLE stream and an ON_CHANGE one (`deadband_c`), both at the fastest
    interval, read while `graph` runs to its end (submitted once the SAMPLE stream has
    `frames_before` frames, or after 60 s); and the job's id."""
    sampled: list[TelemetryFrame] = []
    changed: list[TelemetryFrame] = []
    stop = threading.Event()
    with Client(daemon.target) as client:
        sample = client.subscribe("sim0", 0.0, sensor_ids=sensor_ids)
        on_change = client.subscribe("sim0", 0.0, deadband_c=deadband_c, sensor_ids=sensor_ids)
        readers = [
            threading.Thread(target=read_until, args=(stream, frames, stop), daemon=True)
            for stream, frames in ((sample, sampled), (on_change, changed))
        ]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 60
        while len(sampled) < frames_before and time.monotonic() < deadline:
            time.sleep(0.05)
        job = client.submit_job(graph)
        client.wait_job(job.id)
        stop.set()
        for stream in (sample, on_change):
            stream.close()
        for reader in readers:
            reader.join(10)
    return sampled, changed, job.id


def reading_times(frames: list[TelemetryFrame], sensor_id: str) -> list[tuple[float, float]]:
    """(collection device time, reading) of one sensor, in order."""
    return [
        (f.collected_device_time_s.get(sensor_id, f.device_time_s), f.temperature_c[sensor_id])
        for f in frames
        if sensor_id in f.temperature_c
    ]


# ON_CHANGE judges a filtered reading (20 ms average): a step of 0.3 °C moves it past a 0.1 °C
# deadband 8 ms after it happened, i.e. the next pass of the 10 ms loop. Five periods leave room
# for a late pass; a daemon with telemetry_change_filter_s = 1 fails (reported 0.11 s late).
STEP_BOUND_S = 0.05


def test_on_change_reports_a_step_of_0_3_c_within_the_filter_lag(daemon: RunningDaemon) -> None:
    # The four heaters around s00 at 20 mW: s00 steps up by ~0.5 °C within 10 ms (local heat),
    # then creeps on as the die warms (see the simulated chip).
    step = TaskGraph()
    heaters = {h: 20.0 for h in ("h00", "h01", "h10", "h11")}
    step.add_task("step", duration_s=1.0, heater_power_mw=heaters)
    sampled, changed, _ = sample_beside_on_change(
        daemon, step, 0.1, sensor_ids=["s00"], frames_before=60
    )
    # The step's start: the first powered frame after an unpowered one.
    powered = [
        b.device_time_s
        for a, b in itertools.pairwise(sampled)
        if a.total_heater_power_mw == 0 < b.total_heater_power_mw
    ]
    assert powered, "the step's power shows in the frames"
    on_s = powered[0]
    before = [v for t, v in reading_times(sampled, "s00") if on_s - 0.5 <= t < on_s - 0.02]
    assert len(before) >= 10
    base_c = sum(before) / len(before)
    readings = reading_times(sampled, "s00")
    # When the reading stood 0.3 °C above its level before: three samples in a row (noise alone,
    # 0.05 °C, does not do that).
    risen_s = next(
        t
        for n, (t, _) in enumerate(readings)
        if t >= on_s - 0.02 and all(v >= base_c + 0.3 for _, v in readings[n : n + 3])
    )
    reported = [t for t, _ in reading_times(changed, "s00") if t >= on_s - 0.02]
    assert reported, "ON_CHANGE reported the step"
    assert reported[0] <= risen_s + STEP_BOUND_S, (reported[0], risen_s, on_s)


def subscribers(daemon: RunningDaemon) -> float:
    """The daemon's telemetry streams open on sim0, as its Prometheus endpoint counts them."""
    return value(scrape(daemon.metrics_url()), "photon_telemetry_subscribers", device="sim0")


def test_a_stalled_subscriber_is_closed_and_a_reading_one_is_not(daemon: RunningDaemon) -> None:
    errors: list[BaseException] = []
    fast_frames: list[TelemetryFrame] = []
    # The slow reader's transport keeps its flow-control window at the default (no BDP probe):
    # with the probe, grpc grows the window while round trips are long, as on a loaded machine,
    # and the connection then buffers tens of seconds of frames before the daemon's writes wait.
    no_growth = [("grpc.http2.bdp_probe", 0)]
    with (
        grpc.insecure_channel(daemon.target, options=no_growth) as slow_channel,
        Client(daemon.target) as fast_client,
    ):
        # The slow reader is a bare call with a deadline: were nothing to close it, the test
        # fails with DEADLINE_EXCEEDED instead of waiting for ever.
        slow = telemetry_pb2_grpc.TelemetryServiceStub(slow_channel).Subscribe(
            telemetry_pb2.SubscribeRequest(device_id="sim0"), timeout=120
        )
        next(iter(slow))  # subscribed; from now on this reader takes nothing
        fast = fast_client.subscribe("sim0", 0.5)
        stop = threading.Event()

        def read_fast() -> None:
            try:
                for frame in fast:
                    fast_frames.append(frame)
                    if stop.is_set():
                        break
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        # The daemon buffers what the slow client's connection holds, then waits out the
        # stall timeout and closes the stream (one subscriber left); the slow stream then ends
        # with RESOURCE_EXHAUSTED once read. Reading it sooner would un-stall it.
        deadline = time.monotonic() + 120
        while subscribers(daemon) > 1 and time.monotonic() < deadline:
            time.sleep(0.25)
        with pytest.raises(grpc.RpcError) as closed:
            for _ in slow:
                pass
        before = len(fast_frames)
        deadline = time.monotonic() + 60
        while len(fast_frames) < before + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        fast.close()
        reader.join(10)
    assert closed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "took nothing for 3 s" in (closed.value.details() or "")
    assert "telemetry_stall_timeout_s" in (closed.value.details() or "")
    assert len(fast_frames) >= before + 3, "the reading subscriber still gets frames"
    assert fast.dropped_frames == 0 and fast.coalesced_samples == 0
    assert not [e for e in errors if not isinstance(e, Cancelled)], "closed by us, nothing else"


def test_history_buckets_agree_with_the_samples(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        now_s = client.get_device_state("sim0").device_time_s
        start_s, end_s = now_s - 2.0, now_s - 1.0
        buckets = client.get_history_buckets("sim0", start_s, end_s, 0.25)
        raw = client.get_history("sim0", start_s, end_s, sensor_ids=["s00", "s12"])
    assert raw and all(list(f.temperature_c) == ["s00", "s12"] for f in raw)
    assert len(buckets.buckets) == 4 and buckets.sensor_ids[0] == "s00"
    assert sum(b.samples for b in buckets.buckets) == len(raw)
    for bucket in buckets.buckets:
        inside = [
            f.temperature_c["s12"]
            for f in raw
            if bucket.start_device_time_s <= f.device_time_s < bucket.start_device_time_s + 0.25
            or (f.device_time_s == end_s and bucket is buckets.buckets[-1])
        ]
        assert bucket.samples == len(inside)
        if inside:
            assert bucket.min_c["s12"] == min(inside) and bucket.max_c["s12"] == max(inside)
            assert bucket.mean_c["s12"] == pytest.approx(sum(inside) / len(inside))
        else:
            assert math.isnan(bucket.mean_c["s12"])
    assert buckets.retained_from_device_time_s <= start_s


def test_device_state_reports_health(daemon: RunningDaemon) -> None:
    with Client(daemon.target) as client:
        state = client.get_device_state("sim0")
    assert state.health is not None and 0.0 <= state.health.score <= 1.0


def field_of(error: BaseException) -> str:
    assert isinstance(error, InvalidArgument | ResourceExhausted), error
    return error.field_violations[0].field


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"sample_interval_s": 0.001}, "sample_interval_s"),
        ({"sensor_ids": ["s00", "nope"]}, "sensor_ids[1]"),
        ({"sensor_ids": ["s00", "s00"]}, "sensor_ids[1]"),
        ({"heartbeat_interval_s": 1.0}, "heartbeat_interval_s"),
        ({"deadband_c": 0.1, "suppress_redundant": True}, "suppress_redundant"),
    ],
)
def test_bad_subscriptions_are_refused_by_name(
    daemon: RunningDaemon, options: dict[str, object], field: str
) -> None:
    with Client(daemon.target) as client, pytest.raises(InvalidArgument) as error:
        next(client.subscribe("sim0", **options))  # type: ignore[arg-type]
    assert field_of(error.value) == field


def test_poll_mode_on_subscribe_and_bad_history_are_refused_by_name(
    daemon: RunningDaemon,
) -> None:
    with grpc.insecure_channel(daemon.target) as channel:
        stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        request = telemetry_pb2.SubscribeRequest(list_mode=telemetry_pb2.LIST_MODE_POLL)
        with pytest.raises(grpc.RpcError) as poll:
            next(iter(stub.Subscribe(request, timeout=10)))
        backwards = telemetry_pb2.GetHistoryRequest(start_device_time_s=2, end_device_time_s=1)
        with pytest.raises(grpc.RpcError) as window:
            stub.GetHistory(backwards, timeout=10)
    assert poll.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (poll.value.details() or "").startswith("list_mode:")
    assert window.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (window.value.details() or "").startswith("end_device_time_s:")
    with Client(daemon.target) as client:
        with pytest.raises(InvalidArgument) as narrow:
            client.get_history_buckets("sim0", 0.0, 1.0, 0.001)
        with pytest.raises(ResourceExhausted) as many:
            client.get_history_buckets("sim0", 0.0, 1e6, 1.0)
        with pytest.raises(InvalidArgument) as sensor:
            client.get_history("sim0", 0.0, 1.0, sensor_ids=["x"])
    assert field_of(narrow.value) == "bucket_s"
    assert field_of(many.value) == "bucket_s" and "10000" in str(many.value)
    assert field_of(sensor.value) == "sensor_ids[0]"


def test_frames_within_the_write_interval_go_out_in_one_write() -> None:
    # A 10 ms loop at the tests' time scale (10: a pass per wall millisecond) against writes
    # 0.1 s apart: each write carries the frames of ~100 passes (one write each, were they
    # written as they came).
    running = start_daemon(None, "--telemetry-write-interval-s", "0.1")
    try:
        with grpc.insecure_channel(running.target) as channel:
            call = telemetry_pb2_grpc.TelemetryServiceStub(channel).Subscribe(
                telemetry_pb2.SubscribeRequest(device_id="sim0"), timeout=120
            )
            batches = []
            for update in call:
                if update.WhichOneof("kind") == "batch":
                    batches.append(len(update.batch.frames))
                if len(batches) == 12:
                    break
            call.cancel()  # type: ignore[no-untyped-call]
    finally:
        cleanup(running)
    # The first batch is the snapshot, the next may follow it at once.
    assert sum(batches[2:]) >= 20 * len(batches[2:]), batches


def test_a_failed_sensor_shows_in_frames_and_in_health(tmp_path: Path) -> None:
    config = tmp_path / "photond.toml"
    config.write_text(
        '[[devices]]\nid = "sim0"\ndriver = "sim"\noptions = { nan_sensor = "s12" }\n'
    )
    running = start_daemon(None, "--config", str(config))
    try:
        with Client(running.target) as client:
            frame = client.snapshot("sim0")
            state = client.get_device_state("sim0")
    finally:
        cleanup(running)
    assert math.isnan(frame.temperature_c["s12"])
    assert frame.sensor_status["s12"].state == SensorState.FAILED
    assert frame.sensor_status["s12"].reason.startswith("nan")
    assert set(frame.sensor_status) == {"s12"}, "the other sensors are OK"
    assert state.health is not None and state.health.score < 1.0
    assert any(r.startswith("sensor s12 failed") for r in state.health.reasons)


def test_the_device_loop_and_the_journal_writer_carry_names_a_profiler_shows(
    daemon: RunningDaemon,
) -> None:
    # `perf` and `top -H` otherwise show every thread as the interpreter's.
    assert {"device-sim0", "photond-journal"} <= thread_names(daemon)
