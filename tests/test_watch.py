"""photonctl watch's model and view, without a terminal or a daemon."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from photon_sdk import Device, Limits, Sensor, TelemetryFrame
from photon_sdk._watch import WatchModel, colour_for, render

NOW = datetime(2026, 12, 4, tzinfo=UTC)
LIMITS = Limits(85.0, 5.0, 100.0, 95.0, 5.0)


def _device() -> Device:
    sensors = tuple(
        Sensor(f"s{r}{c}", 1.0 + 2.0 * c, 1.0 + 2.0 * r, 0.05, 0.01, 0.001)
        for r in range(2)
        for c in range(2)
    )
    return Device("sim0", "test chip", "sim", 4.0, 4.0, (), 50.0, 25.0, (), (), (), sensors,
                  LIMITS, 100.0)  # fmt: skip


def _frame(t_s: float, readings: dict[str, float], **fields: object) -> TelemetryFrame:
    return TelemetryFrame(t_s, NOW, readings, 10.0, **fields)  # type: ignore[arg-type]


def test_trend_is_the_slope_of_the_hottest_reading() -> None:
    model = WatchModel(_device())
    for i in range(11):
        t = 0.1 * i
        model.feed_frame(_frame(t, {"s00": 30.0 + 2.0 * t, "s01": 25.0}), 0, 0)
    assert model.hottest_sensor_id == "s00"
    assert abs((model.trend_c_per_s or 0.0) - 2.0) < 1e-9


def test_partial_frames_keep_the_other_sensors_and_a_clock_reset_clears_the_trend() -> None:
    model = WatchModel(_device())
    model.feed_frame(_frame(5.0, {"s00": 30.0, "s01": 31.0, "s10": 29.0, "s11": 28.0}), 0, 0)
    model.feed_frame(_frame(5.1, {"s11": 40.0}, partial=True), 0, 3)
    assert model.readings_c == {"s00": 30.0, "s01": 31.0, "s10": 29.0, "s11": 40.0}
    assert model.coalesced_samples == 3
    # Neighbours 2 mm apart: s11 against s01 and s10.
    assert abs(model.sensor_gradient_c_per_mm() - (40.0 - 29.0) / 2.0) < 1e-9
    model.feed_frame(_frame(0.2, {"s00": 30.0}), 0, 0)  # the daemon restarted
    assert model.trend_c_per_s is None


def test_colour_runs_blue_to_red_then_magenta() -> None:
    assert colour_for(25.0, 25.0, 85.0) == (40, 70, 200)
    assert colour_for(85.0, 25.0, 85.0) == (220, 30, 30)
    assert colour_for(90.0, 25.0, 85.0) == (200, 0, 200)


def test_view_shows_headroom_and_the_estimated_heaters_only_when_sent() -> None:
    model = WatchModel(_device())
    model.feed_frame(_frame(1.0, {"s00": 45.0, "s01": 30.0, "s10": 30.0, "s11": 30.0}), 2, 0)
    text = _text(model)
    assert "headroom 40.0 °C" in text and "headroom 50.0 °C" in text and "dropped 2" in text
    assert "ESTIMATED" not in text


def _text(model: WatchModel) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(render(model))
    return out.getvalue()
