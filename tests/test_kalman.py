"""The observer kernel's own products and solve give what numpy's give (the kernel as a whole
is held to the reference observer in test_observer)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from photond.model.kalman import _mm, _mm_t, _mv, _solve_spd

SHAPES = st.tuples(st.integers(1, 18), st.integers(1, 18), st.integers(1, 18))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(shape=SHAPES, seed=st.integers(0))
def test_products_are_numpys(shape: tuple[int, int, int], seed: int) -> None:
    n, inner, m = shape
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(n, inner)), rng.normal(size=(inner, m)), rng.normal(size=(m, inner))
    x = rng.normal(size=inner)
    np.testing.assert_allclose(_mm(a, b), a @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_mm_t(a, c), a @ c.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_mv(a, x), a @ x, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.integers(1, 16), columns=st.integers(1, 18), seed=st.integers(0))
def test_a_covariance_is_solved_as_numpy_solves_it(n: int, columns: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(n, n))
    covariance = root @ root.T + np.diag(rng.uniform(0.01, 1.0, n))
    b = rng.normal(size=(n, columns))
    np.testing.assert_allclose(
        _solve_spd(covariance, b), np.linalg.solve(covariance, b), rtol=1e-8, atol=1e-10
    )


def test_a_matrix_that_is_not_positive_definite_is_solved_all_the_same() -> None:
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    b = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(_solve_spd(indefinite, b), np.linalg.inv(indefinite))
