"""A device's health as one number in [0, 1] with the reasons that lowered it.

An operator glancing at a dashboard (or a client picking a device) wants one figure, and the
lines that explain it. The score is the product of one factor per concern, so any single
broken part pulls it down on its own and two compound:

- sensors: the fraction of sensors the observer trusts (a failed or distrusted one each says
  why, with the observer's reason);
- the circuit breaker: open 0, half-open 0.5; the interlock: tripped 0;
- thermal headroom: how far the estimated hottest spot (a heater footprint or a sensor) is
  below `max_device_temperature_c`, over `HEADROOM_BAND_C`, at most 1 — a chip at its limit
  has no room for the next task;
- control-loop lateness: 1 while the loop starts its passes within half a period of their
  tick, falling linearly to 0.5 at two periods late (the observer's and the interlock's
  timing is what the safety path rests on).

Computed on the device loop's thread every pass: a few comparisons, no allocation beyond the
reasons of what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Headroom below which the score starts to fall (°C): a few tasks' worth of heating.
HEADROOM_BAND_C = 10.0
HALF_OPEN_FACTOR = 0.5
LATE_FLOOR_FACTOR = 0.5


@dataclass(frozen=True)
class Health:
    score: float
    reasons: tuple[str, ...]


HEALTHY = Health(1.0, ())


def device_health(
    *,
    sensor_ids: Sequence[str],
    failed: Sequence[int],
    distrusted: Mapping[str, str],
    breaker_state: str,
    interlock: str,
    hottest_c: float,
    max_c: float,
    lateness_s: float,
    period_s: float,
) -> Health:
    """The score and reasons; see the module docstring.

    Args:
        failed: indices of sensors whose reading is not a number.
        distrusted: sensor id -> the observer's reason, for sensors it does not trust.
        breaker_state: "closed", "open" or "half-open" (`BreakerState` values).
        interlock: why the interlock holds the device ("" when it does not trip).
        hottest_c: the estimated hottest spot.
        lateness_s: how late the loop's recent passes started (device seconds).
    """
    if (
        not failed
        and not distrusted
        and breaker_state == "closed"
        and not interlock
        and not max_c - hottest_c < HEADROOM_BAND_C
        and not lateness_s > period_s / 2
    ):
        return HEALTHY  # the usual pass, at 100 Hz for months: nothing lowers the score
    score = 1.0
    reasons: list[str] = []
    bad = {sensor_ids[i]: "failed: no reading (not a number)" for i in failed}
    for sensor_id, why in distrusted.items():
        if sensor_id not in bad:
            bad[sensor_id] = f"distrusted: {why}"
    if bad and sensor_ids:
        score *= 1.0 - len(bad) / len(sensor_ids)
        reasons.extend(f"sensor {sensor_id} {why}" for sensor_id, why in sorted(bad.items()))
    if breaker_state == "open":
        score = 0.0
        reasons.append("circuit breaker open: the device does not answer")
    elif breaker_state == "half-open":
        score *= HALF_OPEN_FACTOR
        reasons.append("circuit breaker half-open: probing the device")
    if interlock:
        score = 0.0
        reasons.append(f"interlock: {interlock}")
    if math.isfinite(hottest_c):
        headroom_c = max_c - hottest_c
        if headroom_c < HEADROOM_BAND_C:
            score *= max(0.0, headroom_c) / HEADROOM_BAND_C
            reasons.append(
                f"thermal headroom {headroom_c:.1f} °C: hottest spot {hottest_c:.1f} °C "
                f"(estimated), limit {max_c:g} °C"
            )
    if lateness_s > period_s / 2:
        over = min(1.0, (lateness_s - period_s / 2) / (1.5 * period_s))
        score *= 1.0 - (1.0 - LATE_FLOOR_FACTOR) * over
        reasons.append(
            f"control loop late: {lateness_s * 1e3:.1f} ms after its tick "
            f"(period {period_s * 1e3:g} ms)"
        )
    return Health(min(1.0, max(0.0, score)), tuple(reasons))
