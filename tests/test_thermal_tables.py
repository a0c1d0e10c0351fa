"""The optimiser's tables: a plan's predicted figures are the compact model's, at the limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photon_drivers.profile import load_profile
from photond.model import compact_model, equivalent_aging_hours
from photond.model.metrics import limit_point_pairs, peak_gradient_c_per_mm
from photond.planning.device_plan import device_thermal
from photond.planning.thermal_tables import thermal_tables, trace_figures

PROFILE = load_profile()
DEVICE = device_thermal(PROFILE)
HEATERS = len(DEVICE.model.heater_ids)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 30), st.integers(0, HEATERS - 1)),
        min_size=1,
        max_size=8,
    ),
    st.floats(5.0, 30.0),
)
def test_a_plans_figures_are_the_compact_models_own_simulation(
    tasks: list[tuple[int, int, int]], power_mw: float
) -> None:
    start = np.array([s for s, _, _ in tasks], dtype=np.int64)
    duration = np.array([d for _, d, _ in tasks], dtype=np.int64)
    power = np.zeros((len(tasks), HEATERS))
    for i, (_, _, heater) in enumerate(tasks):
        power[i, heater] = power_mw
    tables = thermal_tables(DEVICE.model, PROFILE, power, duration)
    figures = trace_figures(tables, start, duration, DEVICE.model.dt_s)
    # The same plan, period by period, through the compact model's own code.
    horizon = int((start + duration).max()) + tables.tail_ticks
    schedule = np.zeros((horizon, HEATERS))
    for i in range(len(tasks)):
        schedule[start[i] : start[i] + duration[i]] += power[i]
    trace_c = compact_model(PROFILE, DEVICE.model.dt_s).simulate(schedule, at="limits")
    assert figures.peak_rise_k == pytest.approx(trace_c.max() - PROFILE.ambient_c, abs=1e-9)
    assert figures.peak_gradient_c_per_mm == pytest.approx(
        peak_gradient_c_per_mm(trace_c, limit_point_pairs(PROFILE)), abs=1e-9
    )
    assert figures.aging_hours == pytest.approx(
        float(equivalent_aging_hours(trace_c, DEVICE.model.dt_s).max()), rel=1e-9
    )


def test_the_tables_read_every_footprint_then_every_sensor() -> None:
    power = np.zeros((1, HEATERS))
    power[0, 0] = 10.0
    tables = thermal_tables(DEVICE.model, PROFILE, power, np.array([5]))
    assert tables.task_feed.shape == (1, HEATERS + len(PROFILE.sensors))
    assert tables.readout.shape == (HEATERS + len(PROFILE.sensors), DEVICE.model.modes)
    assert tables.pair_first.min() >= HEATERS
    # Heater 0's own footprint feels its power more than any sensor does.
    assert tables.task_feed[0].argmax() == 0
