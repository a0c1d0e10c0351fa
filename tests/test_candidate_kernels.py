"""The three batched-prediction kernels agree, and score hand-made cases as computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from photon_bench.candidate_kernels import (
    IMPLEMENTATIONS,
    Implementation,
    KernelProblem,
    evaluate_candidates,
)
from photon_drivers import load_profile
from photon_drivers.plant.rc_network import FloatArray
from photon_drivers.profile import DeviceProfile
from photond.model.compact import CompactModel
from photond.model.metrics import gradients_c_per_mm, sensor_pairs

FAST = settings(max_examples=20, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    return load_profile()


@pytest.fixture(scope="module")
def model(profile: DeviceProfile) -> CompactModel:
    return CompactModel.from_profile(profile)


@pytest.fixture(scope="module")
def problem(profile: DeviceProfile, model: CompactModel) -> KernelProblem:
    # Limits low enough that random schedules cross them at varying times.
    return KernelProblem.from_model(
        model, sensor_pairs(profile), max_temperature_c=35.0, max_gradient_c_per_mm=0.3
    )


def toy_problem(max_rise: float, max_grad: float) -> KernelProblem:
    """One mode halving each period, fed 1 K per mW; output 0 reads it, output 1 reads nothing,
    2 mm away: y0 = z, gradient = z / 2."""
    return KernelProblem(
        decay=np.array([0.5]),
        input_t=np.array([[1.0]]),
        out_t=np.array([[1.0, 0.0]]),
        feed_t=np.array([[0.0, 0.0]]),
        pair_first=np.array([0], dtype=np.int64),
        pair_second=np.array([1], dtype=np.int64),
        pair_inv_mm=np.array([0.5]),
        ambient_c=20.0,
        max_temperature_c=20.0 + max_rise,
        max_gradient_c_per_mm=max_grad,
    )


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_first_violation_by_temperature_hand_case(implementation: Implementation) -> None:
    # z = 1, 1.5, 1.75, 1.875, 1.9375: above 1.6 first at step 2.
    scores = evaluate_candidates(
        toy_problem(1.6, 100.0), np.ones((1, 5, 1)), np.zeros(1), implementation
    )
    assert scores.first_violation_step.tolist() == [2]
    assert scores.peak_c.tolist() == [pytest.approx(21.9375)]
    assert scores.peak_gradient_c_per_mm.tolist() == [pytest.approx(1.9375 / 2)]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_first_violation_by_gradient_hand_case(implementation: Implementation) -> None:
    # Gradient z/2 = 0.5, 0.75, ...: above 0.6 first at step 1; a cooler candidate never is.
    schedules = np.stack([np.ones((5, 1)), np.full((5, 1), 0.5)])
    scores = evaluate_candidates(toy_problem(100.0, 0.6), schedules, np.zeros(1), implementation)
    assert scores.first_violation_step.tolist() == [1, -1]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_initial_state_counts(implementation: Implementation) -> None:
    # Starting hot (z = 4) with no power: 2, 1, 0.5 — violating at step 0 only.
    scores = evaluate_candidates(
        toy_problem(1.5, 100.0), np.zeros((1, 3, 1)), np.array([4.0]), implementation
    )
    assert scores.first_violation_step.tolist() == [0]
    assert scores.peak_c.tolist() == [pytest.approx(22.0)]


@FAST
@given(
    st.integers(1, 5).flatmap(
        lambda k: hnp.arrays(np.float64, (k, 15, 8), elements=st.floats(0.0, 240.0))
    ),
    st.floats(0.0, 1.0),
)
def test_three_implementations_agree(
    model: CompactModel, problem: KernelProblem, schedules: FloatArray, warm: float
) -> None:
    state = model.steady_state(np.full(len(model.heater_ids), 20.0 * warm))
    parallel, serial, reference = (
        evaluate_candidates(problem, schedules, state, name) for name in IMPLEMENTATIONS
    )
    # Same compiled per-candidate code: identical bits, whatever the thread count.
    assert np.array_equal(parallel.peak_c, serial.peak_c)
    assert np.array_equal(parallel.peak_gradient_c_per_mm, serial.peak_gradient_c_per_mm)
    assert np.array_equal(parallel.first_violation_step, serial.first_violation_step)
    assert parallel.peak_c == pytest.approx(reference.peak_c, abs=1e-9)
    assert parallel.peak_gradient_c_per_mm == pytest.approx(
        reference.peak_gradient_c_per_mm, abs=1e-9
    )
    assert np.array_equal(parallel.first_violation_step, reference.first_violation_step)


def test_kernel_matches_model_simulation(
    profile: DeviceProfile, model: CompactModel, problem: KernelProblem
) -> None:
    rng = np.random.default_rng(7)
    schedules = rng.uniform(0.0, 200.0, (3, 40, len(profile.zones)))
    scores = evaluate_candidates(problem, schedules, model.initial_state())
    pairs = sensor_pairs(profile)
    for k, schedule in enumerate(schedules):
        trace = model.simulate(schedule, space="zones")
        grads = gradients_c_per_mm(trace, pairs).max(axis=1)
        assert scores.peak_c[k] == pytest.approx(trace.max(), abs=1e-9)
        assert scores.peak_gradient_c_per_mm[k] == pytest.approx(grads.max(), abs=1e-9)
        bad = np.flatnonzero((trace.max(axis=1) > 35.0) | (grads > 0.3))
        assert scores.first_violation_step[k] == (bad[0] if bad.size else -1)


def test_wrong_input_width_is_rejected(problem: KernelProblem) -> None:
    with pytest.raises(ValueError, match="schedules"):
        evaluate_candidates(problem, np.zeros((2, 3, 64)), np.zeros(problem.modes))
