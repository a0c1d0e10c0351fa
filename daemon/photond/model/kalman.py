"""The observer's pass as one numba kernel: predict, judge every sensor, correct, read out.

`photond.loop.observer.Observer` runs this every control period, at 100 Hz for months. Its
matrices are tiny (17 states, 16 sensors), so done as numpy calls a pass was some 70 calls'
overhead, not arithmetic, and most of photond's idle CPU. Here it is one call. The rules and
the filter are the observer's (its module docstring says what and why); this module only
computes them. Which rule a sensor broke comes back as a code, so that the observer formats a
reason only for a sensor that broke one.

Codes per sensor: `FINE`; `NAN`, `OUT_OF_RANGE`, `STUCK`, `JUMP` (broken this sample, the first
rule it breaks in that order: it is distrusted from now on); `TRUSTED_AGAIN` (it had been
distrusted and has agreed for long enough).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

FINE, NAN, OUT_OF_RANGE, STUCK, JUMP, TRUSTED_AGAIN = 0, 1, 2, 3, 4, -1


@njit(cache=True, nogil=True)
def observe_kernel(
    z: FloatArray,
    cov: FloatArray,
    decay: FloatArray,
    ambient_gain: FloatArray,
    q: FloatArray,
    g: FloatArray,
    power: FloatArray,
    periods: int,
    h: FloatArray,
    sensor_feed: FloatArray,
    hot: FloatArray,
    hot_feed: FloatArray,
    ambient_c: float,
    noise_var: FloatArray,
    r0: FloatArray,
    raw: FloatArray,
    readings: FloatArray,
    predictions: FloatArray,
    samples: int,
    half_resolution: FloatArray,
    four_resolutions: FloatArray,
    noisy: NDArray[np.bool_],
    jump_bound_c: FloatArray,
    jump_sigmas: float,
    hard_max_c: float,
    range_margin_c: float,
    distrusted: NDArray[np.bool_],
    good_run: NDArray[np.int64],
    trust_after: int,
    acquiring: bool,
    cov0: FloatArray,
) -> tuple[FloatArray, FloatArray, NDArray[np.int64], float, FloatArray, FloatArray, FloatArray]:
    """One sample folded in. `noise_var`, `readings`, `predictions`, `distrusted` and
    `good_run` are updated in place; returns (state, covariance, codes, the range rule's
    floor °C, innovations, sensor estimate °C, hot-spot estimate °C).

    The transition is the loop model's, given by its parts: each mode decays on its own
    (`decay`) and takes the room's offset through `ambient_gain`; the offset holds. As a matrix
    F = [[diag(decay), ambient_gain], [0, 1]]."""
    n = raw.shape[0]
    r = z.shape[0] - 1
    heat = _mv(g, power)
    for _ in range(max(periods, 1)):
        z = _predict_state(decay, ambient_gain, z, heat)
        cov = _predict_covariance(decay, ambient_gain, cov) + q
    sensor_fed = _mv(sensor_feed, power)
    predicted = ambient_c + _mv(h, z) + sensor_fed
    innovation = raw - predicted
    hp = _mm(h, cov)
    sigma = np.empty(n)
    s_diag = np.empty(n)
    for i in range(n):
        total = 0.0
        for j in range(r + 1):
            total += hp[i, j] * h[i, j]
        s_diag[i] = total + noise_var[i]
        sigma[i] = math.sqrt(s_diag[i])

    # The rules (the observer's module docstring), on the distrust the sample found.
    window = readings.shape[0]
    readings[samples % window] = raw
    predictions[samples % window] = predicted
    samples += 1
    low_c = ambient_c + min(z[r], 0.0) - range_margin_c
    usable = np.zeros(n, dtype=np.bool_)
    jumped = np.zeros(n, dtype=np.bool_)
    n_usable = 0
    up = 0
    for i in range(n):
        usable[i] = math.isfinite(raw[i]) and not distrusted[i]
        jumped[i] = abs(innovation[i]) > jump_bound_c[i] + jump_sigmas * sigma[i]
        if usable[i]:
            n_usable += 1
            if jumped[i] and innovation[i] > 0:
                up += 1
    anchoring = acquiring or (up > 0 and up > n_usable / 2)
    codes = np.zeros(n, dtype=np.int64)
    recovering = False
    for i in range(n):
        if not math.isfinite(raw[i]):
            codes[i] = NAN
        elif not (low_c <= raw[i] <= hard_max_c):
            codes[i] = OUT_OF_RANGE
        elif samples >= window and _still(readings, i, half_resolution[i]):
            moved_model = _spread(predictions, i) > four_resolutions[i]
            if noisy[i] or moved_model:
                codes[i] = STUCK
        if codes[i] == FINE and jumped[i] and not anchoring:
            codes[i] = JUMP
        if codes[i] == FINE and distrusted[i]:
            recovering = True
    if recovering:
        centre = 0.0
        if n_usable:
            centre = _median(innovation[usable] / sigma[usable])
        for i in range(n):
            if codes[i] == FINE and distrusted[i]:
                agrees = abs(innovation[i] / sigma[i] - centre) <= 5.0
                good_run[i] = good_run[i] + 1 if agrees else 0
                if good_run[i] >= trust_after:
                    distrusted[i] = False
                    codes[i] = TRUSTED_AGAIN
    for i in range(n):
        if codes[i] > FINE:
            distrusted[i] = True
            good_run[i] = 0

    if anchoring and not acquiring:  # while acquiring, the uncertainty is the prior's already
        cov = cov + cov0
        hp = _mm(h, cov)
    trusted = np.flatnonzero(~distrusted)
    if trusted.shape[0]:
        hs = np.ascontiguousarray(h[trusted])
        noise = noise_var[trusted]
        hps = np.ascontiguousarray(hp[trusted])
        s = _mm_t(hps, hs)
        for k in range(trusted.shape[0]):
            s[k, k] += noise[k]
        gain = np.ascontiguousarray(_solve_spd(s, hps).T)
        z = z + _mv(gain, innovation[trusted])
        keep = np.eye(r + 1) - _mm(gain, hs)
        weighted = gain * noise
        cov = _mm_t(_mm(keep, cov), keep) + _mm_t(weighted, gain)
        if not anchoring:
            # Noise is learnt from ordinary samples only (never below the datasheet's).
            for k in range(trusted.shape[0]):
                i = trusted[k]
                seen = innovation[i] ** 2 - (s_diag[i] - noise[k])
                noise_var[i] = max(r0[i], 0.995 * noise[k] + 0.005 * seen)
    sensor_c = ambient_c + _mv(h, z) + sensor_fed
    hot_c = ambient_c + _mv(hot, z) + _mv(hot_feed, power)
    return z, cov, codes, low_c, innovation, sensor_c, hot_c


@njit(cache=True, nogil=True, inline="always")
def _spread(window: FloatArray, column: int) -> float:
    """max - min of a window's column (NaN if it holds one)."""
    low = high = window[0, column]
    for k in range(1, window.shape[0]):
        value = window[k, column]
        if math.isnan(value):
            return math.nan
        low = min(low, value)
        high = max(high, value)
    return high - low if not math.isnan(low) else math.nan


@njit(cache=True, nogil=True, inline="always")
def _still(window: FloatArray, column: int, half_resolution: float) -> bool:
    """No reading of the window's column moved beyond half a resolution (a window holding a
    non-number, a sensor just repaired, is not still)."""
    return _spread(window, column) <= half_resolution


@njit(cache=True, nogil=True)
def _predict_state(
    decay: FloatArray, ambient_gain: FloatArray, z: FloatArray, heat: FloatArray
) -> FloatArray:
    """F z plus the heaters' input, F as `observe_kernel` says: O(n), not a product."""
    r = decay.shape[0]
    out = np.empty(r + 1)
    offset = z[r]
    for i in range(r):
        out[i] = decay[i] * z[i] + ambient_gain[i] * offset + heat[i]
    out[r] = offset
    return out


@njit(cache=True, nogil=True)
def _predict_covariance(decay: FloatArray, ambient_gain: FloatArray, cov: FloatArray) -> FloatArray:
    """F cov F^T, F as `observe_kernel` says: each entry is two terms (a mode's own decay and
    the room's column), so O(n^2) where the general product was O(n^3), and a third of the
    kernel's arithmetic."""
    r = decay.shape[0]
    fc = np.empty((r + 1, r + 1))  # F cov
    for i in range(r):
        for j in range(r + 1):
            fc[i, j] = decay[i] * cov[i, j] + ambient_gain[i] * cov[r, j]
    fc[r, :] = cov[r, :]
    out = np.empty((r + 1, r + 1))  # (F cov) F^T
    for i in range(r + 1):
        for j in range(r):
            out[i, j] = fc[i, j] * decay[j] + fc[i, r] * ambient_gain[j]
        out[i, r] = fc[i, r]
    return out


# Products and the solve as plain loops, not BLAS and LAPACK calls: at 17 states a product is
# a few thousand multiply-adds, less than a library call's own overhead, and at 100 Hz, with
# the thread asleep in between, every pass ran the libraries' large code cold (most of the
# kernel's time at real time: benchmarks/loop_pass.py). Loops in i-k-j order run along rows.


@njit(cache=True, nogil=True)
def _mm(a: FloatArray, b: FloatArray) -> FloatArray:
    """a @ b."""
    n, inner = a.shape
    m = b.shape[1]
    out = np.zeros((n, m))
    for i in range(n):
        for k in range(inner):
            a_ik = a[i, k]
            for j in range(m):
                out[i, j] += a_ik * b[k, j]
    return out


@njit(cache=True, nogil=True)
def _mm_t(a: FloatArray, b: FloatArray) -> FloatArray:
    """a @ b.T, as a @ (a copy of b.T): a dot product per entry is one chain of dependent
    additions, where i-k-j order keeps a row's sums independent (and summed in the same order)."""
    return _mm(a, np.ascontiguousarray(b.T))


@njit(cache=True, nogil=True)
def _mv(a: FloatArray, x: FloatArray) -> FloatArray:
    """a @ x, column by column for the same reason as `_mm_t`."""
    n, inner = a.shape
    out = np.zeros(n)
    for k in range(inner):
        x_k = x[k]
        for i in range(n):
            out[i] += a[i, k] * x_k
    return out


@njit(cache=True, nogil=True)
def _solve_spd(s: FloatArray, b: FloatArray) -> FloatArray:
    """s^-1 b for a symmetric positive definite s (the innovation covariance: H P H^T plus
    the sensors' noise), by Cholesky; by LU (np.linalg.solve) should s not be one."""
    n = s.shape[0]
    low = np.zeros((n, n))
    for j in range(n):
        pivot = s[j, j]
        for k in range(j):
            pivot -= low[j, k] * low[j, k]
        if not pivot > 0.0:
            return np.linalg.solve(s, b).astype(np.float64)
        low[j, j] = math.sqrt(pivot)
        for i in range(j + 1, n):
            total = s[i, j]
            for k in range(j):
                total -= low[i, k] * low[j, k]
            low[i, j] = total / low[j, j]
    x = b.copy()
    columns = b.shape[1]
    for i in range(n):  # L y = b
        for k in range(i):
            for c in range(columns):
                x[i, c] -= low[i, k] * x[k, c]
        for c in range(columns):
            x[i, c] /= low[i, i]
    for i in range(n - 1, -1, -1):  # L^T x = y
        for k in range(i + 1, n):
            for c in range(columns):
                x[i, c] -= low[k, i] * x[k, c]
        for c in range(columns):
            x[i, c] /= low[i, i]
    return x


@njit(cache=True, nogil=True)
def _median(values: FloatArray) -> float:
    ordered = np.sort(values)
    half = ordered.shape[0] // 2
    if ordered.shape[0] % 2:
        return float(ordered[half])
    return float((ordered[half - 1] + ordered[half]) / 2)
