"""Batched thermal prediction: score K candidate power schedules against the limits at once.

This is the optimizer's inner loop (issue #4): every replica of the search proposes schedules,
and each must be checked for peak temperature, peak neighbour gradient and the first control
period at which it breaks a limit. All candidates start from the same model state, so each is
played through the compact model's modal recurrence (exact for zero-order hold, see `compact`):

    z[t+1] = a ⊙ z[t] + b p[t]        y[t] = c z[t+1] + d p[t]

Three implementations give the same numbers (tests check it):
  * `parallel`: numba, `prange` over candidates — the one the daemon uses;
  * `serial`: the very same per-candidate code with a plain loop over candidates, so the
    benchmark's parallel/serial ratio measures threading and nothing else;
  * `numpy`: a vectorised reference over candidates, one small matrix product per step.
The numba code is compiled with `cache=True` (first use compiles and writes the on-disk cache;
later processes load it) and with `fastmath={"contract"}` only, which fuses multiply-adds but
never reorders sums: results are deterministic and do not depend on the thread count. They may
differ from the numpy reference in the last bits (BLAS sums in another order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from photond.model.compact import CompactModel, InputSpace, ModelState
from photond.model.metrics import SensorPairs

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Implementation = Literal["parallel", "serial", "numpy"]
IMPLEMENTATIONS: tuple[Implementation, ...] = ("parallel", "serial", "numpy")


@dataclass(frozen=True)
class KernelProblem:
    """The arrays a kernel needs, laid out for it (inputs and outputs on the fast axis).

    Attributes:
        decay: (r,) a = exp(-λ dt).
        input_t: (m, r) b^T, mode increment per input mW held one period.
        out_t: (r, o) c^T, output rise (K) per modal amplitude.
        feed_t: (m, o) d^T, output rise (K) per input mW through the residualised fast modes.
        pair_first, pair_second, pair_inv_mm: neighbouring outputs and 1/distance (1/mm).
        ambient_c, max_temperature_c, max_gradient_c_per_mm: the reference and the limits.
    """

    decay: FloatArray
    input_t: FloatArray
    out_t: FloatArray
    feed_t: FloatArray
    pair_first: NDArray[np.int64]
    pair_second: NDArray[np.int64]
    pair_inv_mm: FloatArray
    ambient_c: float
    max_temperature_c: float
    max_gradient_c_per_mm: float

    @classmethod
    def from_model(
        cls,
        model: CompactModel,
        pairs: SensorPairs,
        *,
        max_temperature_c: float,
        max_gradient_c_per_mm: float,
        space: InputSpace = "zones",
    ) -> KernelProblem:
        """Score the model's sensors, with schedules given per zone (or per heater)."""
        out, feedthrough = model.output_matrices("sensors")
        inputs = model.input_matrix(space)
        return cls(
            decay=np.ascontiguousarray(model.decay),
            input_t=np.ascontiguousarray((model.step_input_per_mw @ inputs).T),
            out_t=np.ascontiguousarray(out.T),
            feed_t=np.ascontiguousarray((feedthrough @ inputs).T),
            pair_first=np.ascontiguousarray(pairs.first, dtype=np.int64),
            pair_second=np.ascontiguousarray(pairs.second, dtype=np.int64),
            pair_inv_mm=np.ascontiguousarray(1.0 / pairs.distance_mm),
            ambient_c=model.ambient_c,
            max_temperature_c=max_temperature_c,
            max_gradient_c_per_mm=max_gradient_c_per_mm,
        )

    @property
    def modes(self) -> int:
        return int(self.decay.shape[0])

    @property
    def inputs(self) -> int:
        return int(self.input_t.shape[0])

    @property
    def outputs(self) -> int:
        return int(self.out_t.shape[1])

    def flops_per_step(self) -> int:
        """Floating-point operations of one candidate-step of the recurrence, counted honestly.

        a ⊙ z: r multiplies; b p: 2·r·m; c z: 2·o·r; d p: 2·o·m (a multiply and an add per
        matrix entry). The max and the gradient checks (3 per pair plus compares) are not
        counted: they are not floating-point arithmetic a matrix product would do.
        """
        r, m, o = self.modes, self.inputs, self.outputs
        return r + 2 * r * m + 2 * o * r + 2 * o * m


@dataclass(frozen=True)
class CandidateScores:
    """Per candidate: peak output temperature (°C), peak neighbour gradient (°C/mm), and the
    first period whose end-of-period readout breaks a limit (-1 if none)."""

    peak_c: FloatArray
    peak_gradient_c_per_mm: FloatArray
    first_violation_step: NDArray[np.int64]


def evaluate_candidates(
    problem: KernelProblem,
    schedules: ArrayLike,
    state: ModelState | FloatArray,
    implementation: Implementation = "parallel",
) -> CandidateScores:
    """Score K schedules of shape (K, steps, inputs) in mW, all starting from `state`.

    Raises:
        ValueError: the schedules' shape does not match the problem's inputs.
    """
    s = np.ascontiguousarray(schedules, dtype=np.float64)
    if s.ndim != 3 or s.shape[2] != problem.inputs:
        raise ValueError(f"schedules must be (K, steps, {problem.inputs}), got {s.shape}")
    x0 = np.ascontiguousarray(state.x if isinstance(state, ModelState) else state, np.float64)
    k = s.shape[0]
    peak = np.empty(k)
    grad = np.empty(k)
    first = np.empty(k, dtype=np.int64)
    args = (
        s,
        x0,
        problem.decay,
        problem.input_t,
        problem.out_t,
        problem.feed_t,
        problem.pair_first,
        problem.pair_second,
        problem.pair_inv_mm,
        problem.max_temperature_c - problem.ambient_c,
        problem.max_gradient_c_per_mm,
    )
    if implementation == "parallel":
        _evaluate_parallel(*args, peak, grad, first)
    elif implementation == "serial":
        _evaluate_serial(*args, peak, grad, first)
    elif implementation == "numpy":
        _evaluate_numpy(*args, peak, grad, first)
    else:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    return CandidateScores(peak + problem.ambient_c, grad, first)


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _one_candidate(
    schedules_mw: FloatArray,
    x0: FloatArray,
    decay: FloatArray,
    input_t: FloatArray,
    out_t: FloatArray,
    feed_t: FloatArray,
    pf: IntArray,
    ps: IntArray,
    pinv: FloatArray,
    max_rise: float,
    max_grad: float,
    z: FloatArray,
    y: FloatArray,
) -> tuple[float, float, int]:
    """Play one schedule; return (peak rise, peak gradient, first violating step or -1)."""
    r = decay.shape[0]
    o = out_t.shape[1]
    m = input_t.shape[0]
    for i in range(r):
        z[i] = x0[i]
    peak = -np.inf
    peak_grad = 0.0
    first = -1
    for t in range(schedules_mw.shape[0]):
        for i in range(r):
            z[i] *= decay[i]
        for q in range(o):
            y[q] = 0.0
        for j in range(m):
            p = schedules_mw[t, j]
            for i in range(r):
                z[i] += input_t[j, i] * p
            for q in range(o):
                y[q] += feed_t[j, q] * p
        for i in range(r):
            zi = z[i]
            for q in range(o):
                y[q] += out_t[i, q] * zi
        step_peak = y[0]
        for q in range(1, o):
            step_peak = max(step_peak, y[q])
        step_grad = 0.0
        for e in range(pf.shape[0]):
            step_grad = max(step_grad, abs(y[pf[e]] - y[ps[e]]) * pinv[e])
        peak = max(peak, step_peak)
        peak_grad = max(peak_grad, step_grad)
        if first < 0 and (step_peak > max_rise or step_grad > max_grad):
            first = t
    return peak, peak_grad, first


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy", parallel=True)
def _evaluate_parallel(
    schedules_mw: FloatArray,
    x0: FloatArray,
    decay: FloatArray,
    input_t: FloatArray,
    out_t: FloatArray,
    feed_t: FloatArray,
    pf: IntArray,
    ps: IntArray,
    pinv: FloatArray,
    max_rise: float,
    max_grad: float,
    peak: FloatArray,
    grad: FloatArray,
    first: IntArray,
) -> None:
    for k in numba.prange(schedules_mw.shape[0]):
        z = np.empty(decay.shape[0])
        y = np.empty(out_t.shape[1])
        candidate = schedules_mw[k]
        peak_k, grad_k, first_k = _one_candidate(
            candidate, x0, decay, input_t, out_t, feed_t, pf, ps, pinv, max_rise, max_grad, z, y
        )
        peak[k] = peak_k
        grad[k] = grad_k
        first[k] = first_k


@numba.njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _evaluate_serial(
    schedules_mw: FloatArray,
    x0: FloatArray,
    decay: FloatArray,
    input_t: FloatArray,
    out_t: FloatArray,
    feed_t: FloatArray,
    pf: IntArray,
    ps: IntArray,
    pinv: FloatArray,
    max_rise: float,
    max_grad: float,
    peak: FloatArray,
    grad: FloatArray,
    first: IntArray,
) -> None:
    z = np.empty(decay.shape[0])
    y = np.empty(out_t.shape[1])
    for k in range(schedules_mw.shape[0]):
        peak[k], grad[k], first[k] = _one_candidate(
            schedules_mw[k],
            x0,
            decay,
            input_t,
            out_t,
            feed_t,
            pf,
            ps,
            pinv,
            max_rise,
            max_grad,
            z,
            y,
        )


def _evaluate_numpy(
    schedules_mw: FloatArray,
    x0: FloatArray,
    decay: FloatArray,
    input_t: FloatArray,
    out_t: FloatArray,
    feed_t: FloatArray,
    pf: NDArray[np.int64],
    ps: NDArray[np.int64],
    pinv: FloatArray,
    max_rise: float,
    max_grad: float,
    peak: FloatArray,
    grad: FloatArray,
    first: NDArray[np.int64],
) -> None:
    """The reference: all candidates advance together, one (K x m)·(m x r) product a step."""
    k = schedules_mw.shape[0]
    z = np.tile(x0, (k, 1))
    peak[:] = -np.inf
    grad[:] = 0.0
    first[:] = -1
    for t in range(schedules_mw.shape[1]):
        p = schedules_mw[:, t, :]
        z = z * decay + p @ input_t
        y = p @ feed_t + z @ out_t
        step_peak = y.max(axis=1)
        step_grad = (np.abs(y[:, pf] - y[:, ps]) * pinv).max(axis=1) if pf.size else np.zeros(k)
        np.maximum(peak, step_peak, out=peak)
        np.maximum(grad, step_grad, out=grad)
        newly = (first < 0) & ((step_peak > max_rise) | (step_grad > max_grad))
        first[newly] = t
