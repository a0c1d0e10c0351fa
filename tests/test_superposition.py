"""The superposition core: the closed-form advance is the period-by-period one, exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from photon_drivers.profile import load_profile
from photond.model.loop_model import loop_model
from photond.planning.superposition import add_row, advance_modes, task_tables

MODEL = loop_model(load_profile(), 0.01)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 300), st.floats(0.0, 30.0), st.integers(0, MODEL.heaters - 1))
def test_a_jump_of_n_periods_is_n_single_periods(
    periods: int, power_mw: float, heater: int
) -> None:
    power = np.zeros((1, MODEL.heaters))
    power[0, heater] = power_mw
    task_in, _ = task_tables(MODEL, power)
    x0 = np.linspace(-1.0, 1.0, MODEL.modes)
    jumped = x0.copy()
    advance_modes(jumped, MODEL.decay, task_in[0], periods)
    stepped = x0.copy()
    for _ in range(periods):
        stepped = MODEL.decay * stepped + task_in[0]
    np.testing.assert_allclose(jumped, stepped, rtol=1e-9, atol=1e-12)


def test_task_tables_are_linear_in_power_and_read_the_limit_points() -> None:
    power = np.zeros((2, MODEL.heaters))
    power[0, 3] = 10.0
    power[1, 3] = 20.0
    task_in, task_feed = task_tables(MODEL, power)
    np.testing.assert_allclose(task_in[1], 2 * task_in[0])
    assert task_feed.shape == (2, MODEL.heaters + MODEL.sensor_out.shape[0])
    np.testing.assert_allclose(task_feed[1], 2 * task_feed[0])


def test_add_row_adds_and_removes_a_task() -> None:
    table = np.arange(6.0).reshape(2, 3)
    acc = np.zeros(3)
    add_row(acc, table, 1, 1.0)
    add_row(acc, table, 1, -1.0)
    add_row(acc, table, 0, 2.0)
    np.testing.assert_array_equal(acc, [0.0, 2.0, 4.0])
