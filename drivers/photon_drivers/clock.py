"""Device time: the one clock the driver, the runtime loop and telemetry share.

On hardware device time is wall time. On the simulated chip it may run faster than wall time
(`time_scale` > 1) so that tests and benchmarks play minutes of device time in seconds; the
physics integrates exactly over whatever interval elapsed, so a faster clock changes nothing
but how long one waits.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds of device time since the clock started."""

    def now_s(self) -> float: ...

    def sleep_until(self, device_time_s: float, wake: threading.Event | None = None) -> None:
        """Block until device time reaches `device_time_s`, or `wake` is set."""
        ...


class ScaledClock:
    """Device time = time_scale x wall time elapsed since construction (1.0 is real time)."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self._start = time.monotonic()

    def now_s(self) -> float:
        return (time.monotonic() - self._start) * self.time_scale

    def sleep_until(self, device_time_s: float, wake: threading.Event | None = None) -> None:
        wall_s = (device_time_s - self.now_s()) / self.time_scale
        if wall_s <= 0:
            return
        if wake is None:
            time.sleep(wall_s)
        else:
            wake.wait(wall_s)


class ManualClock:
    """A clock that moves only when told to: for unit tests that step physics by hand."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s
        self._lock = threading.Lock()

    def now_s(self) -> float:
        with self._lock:
            return self._now_s

    def advance(self, dt_s: float) -> None:
        if dt_s < 0:
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._now_s += dt_s

    def sleep_until(self, device_time_s: float, wake: threading.Event | None = None) -> None:
        # Sleeping on a manual clock moves it: the caller is the only one who waits.
        with self._lock:
            self._now_s = max(self._now_s, device_time_s)
