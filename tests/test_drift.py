"""Drift limits: a tolerance in radians becomes the footprint change it allows, in kelvin."""

from __future__ import annotations

import math

import pytest

from photon_drivers.profile import load_profile
from photond.model.metrics import SILICON_DN_DT_PER_K
from photond.planning.drift import drift_limits_k
from photond.planning.graph import CheckedGraph, CheckedTask

PROFILE = load_profile()
HEATERS = tuple(h.id for h in PROFILE.heaters)


def task(task_id: str, tolerance_rad: float, lanes: tuple[str, ...] = ()) -> CheckedTask:
    return CheckedTask(task_id, 1.0, {"h00": 5.0}, lanes, (), 0.0, 0.0, 0, tolerance_rad)


def test_no_tolerance_anywhere_means_no_limits() -> None:
    assert drift_limits_k(CheckedGraph((task("a", 0.0),)), PROFILE, HEATERS) is None


def test_the_limit_is_the_tolerance_over_the_phase_per_kelvin() -> None:
    limits = drift_limits_k(CheckedGraph((task("a", 0.05), task("b", 0.0))), PROFILE, HEATERS)
    assert limits is not None
    heater = PROFILE.heaters[0]
    shortest_m = min(lane.wavelength_nm for lane in PROFILE.lanes) * 1e-9
    rad_per_k = 2 * math.pi * heater.waveguide_length_mm * 1e-3 * SILICON_DN_DT_PER_K / shortest_m
    assert limits[0, 0] == pytest.approx(0.05 / rad_per_k)
    assert math.isinf(limits[1, 0])


def test_a_longer_wavelength_lane_allows_more_drift() -> None:
    lanes = sorted(PROFILE.lanes, key=lambda lane: lane.wavelength_nm)
    graph = CheckedGraph((task("short", 0.05, (lanes[0].id,)), task("long", 0.05, (lanes[-1].id,))))
    limits = drift_limits_k(graph, PROFILE, HEATERS)
    assert limits is not None
    assert limits[1, 0] / limits[0, 0] == pytest.approx(
        lanes[-1].wavelength_nm / lanes[0].wavelength_nm
    )
