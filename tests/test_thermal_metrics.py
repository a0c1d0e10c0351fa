"""Aging, phase drift and gradient metrics reproduce their formulas on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photon_drivers import load_profile
from photond.model.metrics import (
    arrhenius_factor,
    equivalent_aging_hours,
    heater_phase_drift_rad,
    neighbour_pairs,
    peak_gradient_c_per_mm,
    phase_drift_rad,
    sensor_pairs,
)


def test_arrhenius_is_one_at_reference() -> None:
    assert arrhenius_factor(25.0) == pytest.approx(1.0)
    assert arrhenius_factor(60.0, reference_c=60.0, activation_energy_ev=1.1) == pytest.approx(1.0)


def test_arrhenius_grows_with_temperature() -> None:
    factors = arrhenius_factor(np.linspace(0.0, 120.0, 25))
    assert np.all(np.diff(factors) > 0)


def test_arrhenius_hand_computed_at_85_c() -> None:
    # 0.7 eV / 8.617333e-5 eV/K = 8123.1 K; 1/298.15 - 1/358.15 = 5.6189e-4 /K; exp(4.5643) = 96.0
    assert float(arrhenius_factor(85.0)) == pytest.approx(96.0, rel=2e-3)


def test_equivalent_hours_of_an_hour_at_reference_is_one() -> None:
    trace = np.full((3600, 2), 25.0)
    assert equivalent_aging_hours(trace, dt_s=1.0) == pytest.approx([1.0, 1.0])


def test_equivalent_hours_weights_hot_samples() -> None:
    trace = np.array([25.0, 85.0])
    hours = equivalent_aging_hours(trace, dt_s=1800.0)
    assert float(hours) == pytest.approx(0.5 * (1.0 + float(arrhenius_factor(85.0))))


def test_phase_drift_hand_computed() -> None:
    # 2π · 0.3e-3 m · 1.86e-4 /K · 1 K / 1.55e-6 m = 2π · 0.036 = 0.226195 rad
    assert float(phase_drift_rad(1.0, 0.3)) == pytest.approx(0.226195, rel=1e-5)
    # A π shift of a 0.3 mm shifter needs 0.5 / 0.036 = 13.89 K.
    assert float(phase_drift_rad(0.5 / 0.036, 0.3)) == pytest.approx(math.pi, rel=1e-9)


def test_heater_phase_drift_uses_each_waveguide_length() -> None:
    profile = load_profile()
    heaters = len(profile.heaters)
    drift = heater_phase_drift_rad(profile, np.full(heaters, 27.0), np.full(heaters, 25.0))
    assert drift == pytest.approx(np.full(heaters, 2 * 0.226195), rel=1e-5)


def test_default_sensor_neighbours_are_grid_adjacent() -> None:
    pairs = sensor_pairs(load_profile())
    assert len(pairs.first) == 24  # 2 directions x 4 lines x 3 gaps on the 4 x 4 grid
    assert pairs.distance_mm == pytest.approx(np.full(24, 1.25))


def test_gradient_of_a_linear_field() -> None:
    profile = load_profile()
    x = np.array([s.x_mm for s in profile.sensors])
    field_c = 30.0 + 2.0 * x  # 2 °C/mm along x, flat along y
    assert peak_gradient_c_per_mm(field_c, sensor_pairs(profile)) == pytest.approx(2.0)


def test_gradient_hot_spot() -> None:
    profile = load_profile()
    field_c = np.full(len(profile.sensors), 40.0)
    field_c[5] = 45.0  # s11; its neighbours are 1.25 mm away: 5 / 1.25 = 4 °C/mm
    assert peak_gradient_c_per_mm(field_c, sensor_pairs(profile)) == pytest.approx(4.0)


def test_neighbours_skip_points_behind_a_closer_one() -> None:
    pairs = neighbour_pairs([0.0, 1.0, 2.0], [0.0, 0.0, 0.0])
    assert list(zip(pairs.first.tolist(), pairs.second.tolist(), strict=True)) == [(0, 1), (1, 2)]
