"""The last `telemetry_history_s` of every sensor, in a ring, and min / max / mean per bucket.

The device loop appends one row per sample (a copy into preallocated arrays: no allocation,
no lock, so a reader can never delay it). Readers (GetHistory, on a worker thread) copy the
rows of their window in slices and then check that the writer did not lap them meanwhile,
dropping any row it may have overwritten — a seqlock without the lock: the writer's count is
bumped after its row is written, and Python's interpreter lock orders the two.

Memory: 8 bytes per reading, plus 16 per sample for its times — on the default chip (16
sensors, 100 samples/s) 8.6 MB for the default 600 s, resident from the start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Rows copied per slice when reading: keeps each copy (which holds the interpreter) short.
_COPY_ROWS = 8192


@dataclass(frozen=True)
class Window:
    """Samples of a window: device times (n,), wall times (n,), readings (n, sensors)."""

    device_time_s: NDArray[np.float64]
    wall_time_s: NDArray[np.float64]
    temperature_c: NDArray[np.float64]
    retained_from_s: float


@dataclass(frozen=True)
class Buckets:
    """Per bucket (b,) its start and sample count; per bucket and sensor (b, s) the figures."""

    start_s: NDArray[np.float64]
    samples: NDArray[np.int64]
    min_c: NDArray[np.float64]
    max_c: NDArray[np.float64]
    mean_c: NDArray[np.float64]


class HistoryRing:
    """Fixed-size ring of samples; see the module docstring."""

    def __init__(self, sensors: int, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"history capacity must be at least 1 sample, got {capacity}")
        self.capacity = capacity
        # Filled, not np.zeros: every page resident from the start. Zeroed pages come from the
        # kernel as they are first written, so a daemon's RSS crept up 8.6 MB over its first
        # 600 s (the default chip and history), which looks like a leak to whoever watches it.
        self._device_s = np.full(capacity, np.nan)
        self._wall_s = np.full(capacity, np.nan)
        self._temps = np.full((capacity, sensors), np.nan, dtype=np.float64)
        # Samples written so far; row i lives at i % capacity.
        self.count = 0

    def append(
        self, device_time_s: float, wall_time_s: float, temperature_c: Sequence[float]
    ) -> None:
        """One sample (the loop thread only)."""
        row = self.count % self.capacity
        self._device_s[row] = device_time_s
        self._wall_s[row] = wall_time_s
        self._temps[row] = temperature_c
        self.count += 1

    def window(self, start_s: float, end_s: float) -> Window:
        """The samples with start_s <= device time <= end_s, oldest first."""
        count = self.count
        first = max(0, count - self.capacity)
        rows = np.arange(first, count)
        times = self._device_s[rows % self.capacity]
        # A lapped row holds a newer time; it falls out below, so `times` need not be exact.
        lo = first + int(np.searchsorted(times, start_s, side="left"))
        hi = first + int(np.searchsorted(times, end_s, side="right"))
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for begin in range(lo, hi, _COPY_ROWS):
            index = np.arange(begin, min(hi, begin + _COPY_ROWS)) % self.capacity
            parts.append((self._device_s[index], self._wall_s[index], self._temps[index]))
        # Rows the writer may have overwritten while we copied are dropped (oldest first).
        lapped = max(0, self.count - self.capacity - lo)
        device = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
        wall = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        temps = (
            np.concatenate([p[2] for p in parts])
            if parts
            else np.zeros((0, self._temps.shape[1]), dtype=np.float64)
        )
        retained_from_s = float(self._device_s[first % self.capacity]) if count else math.nan
        return Window(device[lapped:], wall[lapped:], temps[lapped:], retained_from_s)


def bucketize(window: Window, start_s: float, end_s: float, bucket_s: float) -> Buckets:
    """Min / max / mean of each sensor over consecutive buckets of `bucket_s` from `start_s`.

    Every bucket of the window is returned, empty ones with 0 samples and NaN figures; a NaN
    reading (a failed sensor) is left out of its sensor's figures.
    """
    n_buckets = max(1, math.ceil((end_s - start_s) / bucket_s - 1e-9))
    sensors = window.temperature_c.shape[1]
    index = np.floor((window.device_time_s - start_s) / bucket_s).astype(np.int64)
    index = np.clip(index, 0, n_buckets - 1)
    samples = np.bincount(index, minlength=n_buckets)
    shape = (n_buckets, sensors)
    min_c, max_c, mean_c = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    if len(index):
        # Rows are in time order, so each bucket's rows are contiguous: reduce by runs.
        temps = window.temperature_c
        finite = np.isfinite(temps)
        starts = np.flatnonzero(np.diff(index, prepend=-1))
        used = index[starts]
        # fmin/fmax skip NaN (a sensor NaN throughout its bucket stays NaN).
        min_c[used] = np.fmin.reduceat(temps, starts)
        max_c[used] = np.fmax.reduceat(temps, starts)
        total = np.add.reduceat(np.where(finite, temps, 0.0), starts)
        counted = np.add.reduceat(finite.astype(np.float64), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_c[used] = np.where(counted > 0, total / counted, np.nan)
    start = start_s + bucket_s * np.arange(n_buckets, dtype=np.float64)
    return Buckets(start, samples, min_c, max_c, mean_c)
