"""Clements decomposition of unitaries into a rectangular MZI mesh, batched over many tiles.

Clements et al., "Optimal design for universal multiport interferometers", Optica 3, 1460
(2016): any N x N unitary U = D · T_last ⋯ T_first, where each T acts on two neighbouring
modes (m, m+1) as the MZI of the paper's eq. (1)::

    [[e^{iφ} cos θ, -sin θ],
     [e^{iφ} sin θ,  cos θ]]

(θ ∈ [0, π/2] sets the splitting, φ ∈ [0, 2π) the phase on the upper input) and D holds N
output phases. The N(N-1)/2 MZIs fill N columns of depth; column c holds the MZIs on pairs
starting at modes of c's parity.

This is the algorithm of the paper's reference implementation (the ``interferometer``
package, ``square_decomposition``, by the paper's first author), rewritten to act on a stack
of unitaries at once: a ResNet-50 needs ~800k decompositions of 8 x 8 unitaries, which the
reference code, one matrix at a time, does at ~0.4 ms each (5 minutes); here each Givens
step is one numpy operation over the whole stack. docs/workloads.md §3 says why the package
is a test reference and not a dependency.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["MeshPhases", "decompose", "mzi_columns", "reconstruct"]

ComplexArray = NDArray[np.complex128]
FloatArray = NDArray[np.float64]
# Real input is decomposed in real arithmetic (float64), complex input in complex128.
AnyArray = NDArray[np.float64] | NDArray[np.complex128]

# A phase this close below 2π is the phase 0 (they are the same setting); rounding in the
# Givens steps leaves phases of real matrices at 2π - 1e-16 instead of 0, which would
# otherwise read as a full 2π of heater power.
_WRAP_TOL_RAD = 1e-12


@dataclass(frozen=True)
class MeshPhases:
    """Phases of a batch of meshes, MZIs in light order (first applied first).

    Attributes:
        modes: (N(N-1)/2,) the upper mode m of each MZI (it acts on m and m+1).
        theta: (batch, MZIs) splitting angles θ ∈ [0, π/2].
        phi: (batch, MZIs) external phases φ ∈ [0, 2π).
        output: (batch, N) output phases ∈ [0, 2π).
    """

    modes: NDArray[np.int64]
    theta: FloatArray
    phi: FloatArray
    output: FloatArray


def decompose(unitaries: AnyArray) -> MeshPhases:
    """Decompose a stack of unitaries (batch, N, N) (or one, (N, N)) into mesh phases.

    The input is not checked for unitarity: a non-unitary input decomposes into phases whose
    :func:`reconstruct` differs from it.
    """
    # Real (orthogonal) input stays real: every phasor is then exactly ±1 and every phase
    # exactly 0 or π, with no rounding left to push a phase to just below 2π.
    u: AnyArray
    if np.isrealobj(unitaries):
        u = np.array(unitaries, dtype=np.float64, copy=True)
    else:
        u = np.array(unitaries, dtype=np.complex128, copy=True)
    if u.ndim == 2:
        u = u[None]
    if u.ndim != 3 or u.shape[1] != u.shape[2] or u.shape[1] < 2:
        raise ValueError(f"unitaries: expected (batch, N, N) with N >= 2, got {u.shape}")
    n = u.shape[1]
    # Batch last, (N, N, batch): a row or a column is then N contiguous runs of the batch,
    # and every step below is a few whole-array operations (~5x faster than batch first).
    u = np.ascontiguousarray(np.moveaxis(u, 0, -1))  # type: ignore[assignment]  # same dtype
    right: list[tuple[int, FloatArray, AnyArray]] = []
    left: list[tuple[int, FloatArray, AnyArray]] = []
    for i in range(n - 1):
        if i % 2 == 0:
            # Null U[n-1-j, i-j] by an inverse MZI on columns (i-j, i-j+1), from the right.
            for j in range(i + 1):
                m, row = i - j, n - 1 - j
                theta, phasor = _nulling(u[row, m], u[row, m + 1])
                _columns_times_inverse(u, m, theta, phasor)
                right.append((m, theta, phasor))
        else:
            # Null U[n+j-i-1, j] by an MZI on rows (n+j-i-2, n+j-i-1), from the left.
            for j in range(i + 1):
                m = n + j - i - 2
                theta, phasor = _nulling(-u[m + 1, j], u[m, j])
                _mzi_times_rows(u, m, theta, phasor)
                left.append((m, theta, phasor))
    # U is now diagonal up to the left MZIs: move each through the diagonal (D·T⁻¹ = T'·D').
    for m, theta, phasor in reversed(left):
        _inverse_times_rows(u, m, theta, phasor)
        theta2, phasor2 = _nulling(u[m + 1, m], u[m + 1, m + 1])
        _columns_times_inverse(u, m, theta2, phasor2)
        right.append((m, theta2, phasor2))
    output = np.angle(np.diagonal(u, axis1=0, axis2=1))
    return MeshPhases(
        modes=np.array([m for m, _, _ in right], dtype=np.int64),
        theta=np.stack([t for _, t, _ in right], axis=1),
        phi=_wrap(np.angle(np.stack([p for _, _, p in right], axis=1))),
        output=_wrap(output),
    )


def reconstruct(phases: MeshPhases) -> ComplexArray:
    """The unitaries (batch, N, N) a mesh with these phases implements."""
    batch, n = phases.output.shape
    u = np.broadcast_to(np.eye(n, dtype=np.complex128)[:, :, None], (n, n, batch)).copy()
    for k, m in enumerate(phases.modes):
        _mzi_times_rows(u, int(m), phases.theta[:, k], np.exp(1j * phases.phi[:, k]))
    result: ComplexArray = np.exp(1j * phases.output)[:, :, None] * np.moveaxis(u, -1, 0)
    return result


@functools.cache
def mzi_columns(n: int) -> tuple[int, ...]:
    """The mesh column (0 … N-1) of each MZI in :func:`decompose`'s order, for N modes.

    Found the way light meets them: an MZI sits one column after the later of the MZIs that
    last touched its two modes. The result is the rectangular layout of the paper's Fig. 1.
    """
    modes = decompose(np.eye(n, dtype=np.complex128)).modes
    last = [0] * n
    columns = []
    for m in modes:
        column = max(last[m], last[m + 1])
        columns.append(column)
        last[m] = last[m + 1] = column + 1
    return tuple(columns)


def _nulling(a: AnyArray, b: AnyArray) -> tuple[FloatArray, AnyArray]:
    """(θ, e^{iφ}) with a·e^{-iφ}·cos θ = b·sin θ: the MZI that nulls `a` against `b`.

    arctan2 covers b = 0 (θ = π/2) and a = b = 0 (θ = 0, any φ: φ = 0) without a branch; the
    phasor is a·b̄/|a·b̄|, so for real a, b it is exactly ±1.
    """
    theta = np.arctan2(np.abs(a), np.abs(b))
    x = a * np.conj(b)
    magnitude = np.abs(x)
    phasor = np.where(magnitude > 0, x / np.where(magnitude > 0, magnitude, 1.0), 1.0)
    return theta, phasor


def _columns_times_inverse(u: AnyArray, m: int, theta: FloatArray, phasor: AnyArray) -> None:
    """u ← u · T(θ, φ)⁻¹ on columns m, m+1, in place (u is (N, N, batch))."""
    c, s = np.cos(theta), np.sin(theta)
    e = np.conj(phasor)
    c0, c1 = u[:, m].copy(), u[:, m + 1].copy()
    u[:, m] = e * c * c0 - s * c1
    u[:, m + 1] = e * s * c0 + c * c1


def _mzi_times_rows(u: AnyArray, m: int, theta: FloatArray, phasor: AnyArray) -> None:
    """u ← T(θ, φ) · u on rows m, m+1, in place (u is (N, N, batch))."""
    c, s = np.cos(theta), np.sin(theta)
    r0, r1 = u[m].copy(), u[m + 1].copy()
    u[m] = phasor * c * r0 - s * r1
    u[m + 1] = phasor * s * r0 + c * r1


def _inverse_times_rows(u: AnyArray, m: int, theta: FloatArray, phasor: AnyArray) -> None:
    """u ← T(θ, φ)⁻¹ · u on rows m, m+1, in place (T⁻¹ = T†; u is (N, N, batch))."""
    c, s = np.cos(theta), np.sin(theta)
    e = np.conj(phasor)
    r0, r1 = u[m].copy(), u[m + 1].copy()
    u[m] = e * (c * r0 + s * r1)
    u[m + 1] = -s * r0 + c * r1


def _wrap(phases: FloatArray) -> FloatArray:
    wrapped = np.mod(phases, 2 * np.pi)
    wrapped[wrapped > 2 * np.pi - _WRAP_TOL_RAD] = 0.0
    return wrapped
