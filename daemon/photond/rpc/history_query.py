"""GetHistory: a window of a device's recorded samples, whole or as min / max / mean buckets.

The device keeps the last `telemetry_history_s` of samples (`loop.history.HistoryRing`). A
request names a window of device time and a bucket width; the answer is built on a worker
thread (copying and reducing up to a ring's worth of samples takes milliseconds), with limits
that keep any answer's size bounded: at most `MAX_BUCKETS` buckets, at most `MAX_FRAMES` raw
samples, both RESOURCE_EXHAUSTED naming `bucket_s` (the field to change).
"""

from __future__ import annotations

import math

import grpc

from photon.v1 import telemetry_pb2
from photond.loop.history import Window, bucketize
from photond.rpc.devices import ManagedDevice
from photond.rpc.status import RequestError, invalid_argument
from photond.rpc.telemetry_stream import selection_of
from photond.wire import timestamp

MAX_BUCKETS = 10_000
MAX_FRAMES = 100_000


def _exhausted(field: str, description: str) -> RequestError:
    return RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{field}: {description}", field)


def check_history(request: telemetry_pb2.GetHistoryRequest, device: ManagedDevice) -> None:
    """Refuse a window or bucket width that makes no sense, naming the field."""
    start_s, end_s, bucket_s = (
        request.start_device_time_s,
        request.end_device_time_s,
        request.bucket_s,
    )
    for field, value in (("start_device_time_s", start_s), ("end_device_time_s", end_s)):
        if not math.isfinite(value):
            raise invalid_argument(field, f"must be a finite device time, got {value}")
    if end_s < start_s:
        raise invalid_argument(
            "end_device_time_s",
            f"must not be before start_device_time_s ({start_s:g}), got {end_s:g}",
        )
    if not (math.isfinite(bucket_s) and bucket_s >= 0):
        raise invalid_argument("bucket_s", f"must be >= 0 s, got {bucket_s}")
    period_s = device.runtime.period_s
    if 0 < bucket_s < period_s - 1e-12:
        raise invalid_argument(
            "bucket_s",
            f"must be 0 (the samples themselves) or at least the control period {period_s:g} s, "
            f"got {bucket_s:g}",
        )
    if bucket_s and (end_s - start_s) / bucket_s > MAX_BUCKETS:
        buckets = math.ceil((end_s - start_s) / bucket_s)
        raise _exhausted(
            "bucket_s",
            f"the {end_s - start_s:g} s window makes {buckets} buckets of {bucket_s:g} s; "
            f"at most {MAX_BUCKETS}: widen the buckets or narrow the window",
        )


def answer_history(
    request: telemetry_pb2.GetHistoryRequest, device: ManagedDevice
) -> telemetry_pb2.GetHistoryResponse:
    """The response (call on a worker thread, after `check_history`)."""
    selection = selection_of(list(request.sensor_ids), device, "")
    sensors = device.profile.sensors
    columns = list(selection) if selection is not None else list(range(len(sensors)))
    start_s, end_s, bucket_s = (
        request.start_device_time_s,
        request.end_device_time_s,
        request.bucket_s,
    )
    window = device.runtime.hub.history.window(start_s, end_s)
    response = telemetry_pb2.GetHistoryResponse(
        layout=telemetry_pb2.SensorLayout(
            device_id=device.id, sensor_ids=[sensors[i].id for i in columns]
        ),
        retained_from_device_time_s=window.retained_from_s,
        bucket_s=bucket_s,
    )
    if not bucket_s:
        if len(window.device_time_s) > MAX_FRAMES:
            raise _exhausted(
                "bucket_s",
                f"the window holds {len(window.device_time_s)} samples; at most {MAX_FRAMES} "
                "are answered one by one: ask for buckets (bucket_s > 0) or a narrower window",
            )
        _add_frames(response, window, columns)
        return response
    buckets = bucketize(
        _columns(window, columns), start_s, max(end_s, start_s + bucket_s), bucket_s
    )
    for b in range(len(buckets.start_s)):
        response.buckets.append(
            telemetry_pb2.HistoryBucket(
                start_device_time_s=float(buckets.start_s[b]),
                samples=int(buckets.samples[b]),
                min_c=buckets.min_c[b].tolist(),
                max_c=buckets.max_c[b].tolist(),
                mean_c=buckets.mean_c[b].tolist(),
            )
        )
    return response


def _columns(window: Window, columns: list[int]) -> Window:
    return Window(
        window.device_time_s,
        window.wall_time_s,
        window.temperature_c[:, columns],
        window.retained_from_s,
    )


def _add_frames(
    response: telemetry_pb2.GetHistoryResponse, window: Window, columns: list[int]
) -> None:
    temps = window.temperature_c[:, columns]
    for device_s, wall_s, row in zip(
        window.device_time_s.tolist(), window.wall_time_s.tolist(), temps.tolist(), strict=True
    ):
        frame = response.frames.add(device_time_s=device_s, temperature_c=row)
        frame.read_at.CopyFrom(timestamp(wall_s))
