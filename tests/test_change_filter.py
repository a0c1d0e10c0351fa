"""The per-sensor filter ON_CHANGE judges a change on: its noise, its lag, NaN and tau 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photond.loop.change_filter import DEFAULT_CHANGE_FILTER_S, ChangeFilter


def test_noise_shrinks_as_the_module_docstring_says() -> None:
    period_s, sigma_c = 0.01, 0.05
    rng = np.random.default_rng(1)
    change = ChangeFilter(4, DEFAULT_CHANGE_FILTER_S)
    out = np.array(
        [change.update(k * period_s, 25.0 + rng.normal(0, sigma_c, 4)) for k in range(20_000)]
    )
    weight = -math.expm1(-period_s / DEFAULT_CHANGE_FILTER_S)
    expected_c = sigma_c * math.sqrt(weight / (2 - weight))  # 0.025 °C
    assert out[100:].std(axis=0) == pytest.approx(np.full(4, expected_c), rel=0.05)


def test_a_step_crosses_the_deadband_after_tau_ln_d_over_d_minus_deadband() -> None:
    # 1 ms samples, so the crossing time is resolved finer than the 8.1 ms it should take.
    period_s, step_c, deadband_c = 0.001, 0.3, 0.1
    change = ChangeFilter(1, DEFAULT_CHANGE_FILTER_S)
    change.update(0.0, [25.0])
    crossed_s = None
    for k in range(1, 100):
        value = change.update(k * period_s, [25.0 + step_c])[0]
        if value - 25.0 > deadband_c:
            crossed_s = k * period_s
            break
    expected_s = DEFAULT_CHANGE_FILTER_S * math.log(step_c / (step_c - deadband_c))
    assert crossed_s == pytest.approx(expected_s, abs=period_s)


def test_the_weight_follows_device_time_not_the_number_of_samples() -> None:
    # One sample 20 ms later moves as far as twenty 1 ms samples do.
    one, many = ChangeFilter(1, 0.02), ChangeFilter(1, 0.02)
    one.update(0.0, [0.0])
    many.update(0.0, [0.0])
    after_one = one.update(0.02, [1.0])[0]
    for k in range(1, 21):
        after_many = many.update(k * 0.001, [1.0])[0]
    assert after_one == pytest.approx(after_many) == pytest.approx(1 - math.exp(-1))


def test_a_failed_reading_is_nan_and_the_filter_restarts_from_the_next_number() -> None:
    change = ChangeFilter(2, 0.02)
    change.update(0.0, [25.0, 25.0])
    assert np.isnan(change.update(0.01, [math.nan, 25.0])[0])
    assert change.update(0.02, [40.0, 25.0])[0] == 40.0


def test_tau_zero_judges_every_raw_reading() -> None:
    change = ChangeFilter(1, 0.0)
    change.update(0.0, [25.0])
    assert change.update(0.01, [25.3])[0] == 25.3


def test_readings_already_folded_in_change_nothing() -> None:
    change = ChangeFilter(1, 0.02)
    change.update(1.0, [25.0])
    first = change.update(1.01, [26.0])[0]
    assert change.update(1.01, [26.0])[0] == first and change.update(1.0, [30.0])[0] == first


def test_a_negative_or_infinite_tau_is_refused() -> None:
    for tau_s in (-0.01, math.inf, math.nan):
        with pytest.raises(ValueError, match="time constant"):
            ChangeFilter(1, tau_s)
