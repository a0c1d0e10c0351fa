"""A circuit breaker per device: stop talking to a device that keeps failing, probe, recover.

Without one, a device whose link is down makes every control-loop pass wait out a full round
of timeouts and retries, and every queued job would start only to fail. With one, after
`failures` consecutive failed calls the breaker *opens*: the daemon reports the device
NOT_SERVING and dispatches nothing. After `reset_s` of wall time it goes *half-open* and lets a
probe through (the runtime pings, then re-sends the safe state); `probes` consecutive good
probes *close* it, and one bad probe opens it again for another `reset_s`.

    CLOSED --failures in a row--> OPEN --reset_s elapsed--> HALF_OPEN --probes good--> CLOSED
                                    ^                           |
                                    +-------- a probe fails ----+

Breaker time is wall time (`time.monotonic`), not device time: it measures how long a link
has been down, which has nothing to do with how fast a simulated chip plays.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

OPTION_PREFIX = "breaker_"


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds, from a device's options (`breaker_failures`, `breaker_reset_s`, ...).

    Attributes:
        failures: consecutive failed calls that open the breaker.
        reset_s: wall seconds the breaker stays open before it lets a probe through.
        probes: consecutive successful probes in half-open that close it.
    """

    failures: int = 3
    reset_s: float = 1.0
    probes: int = 1

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError(f"breaker_failures must be at least 1, got {self.failures}")
        if not (math.isfinite(self.reset_s) and self.reset_s > 0):
            raise ValueError(f"breaker_reset_s must be a positive number, got {self.reset_s}")
        if self.probes < 1:
            raise ValueError(f"breaker_probes must be at least 1, got {self.probes}")

    @classmethod
    def split_options(cls, options: Mapping[str, str]) -> tuple[BreakerConfig, dict[str, str]]:
        """Take the `breaker_*` keys out of a device's options; return the rest for the driver.

        Raises:
            ValueError: an unknown `breaker_*` key or a malformed value (the message names it).
        """
        mine = {
            k[len(OPTION_PREFIX) :]: v for k, v in options.items() if k.startswith(OPTION_PREFIX)
        }
        rest = {k: v for k, v in options.items() if not k.startswith(OPTION_PREFIX)}
        unknown = sorted(set(mine) - set(cls.__dataclass_fields__))
        if unknown:
            names = ", ".join(OPTION_PREFIX + k for k in unknown)
            known = ", ".join(OPTION_PREFIX + k for k in cls.__dataclass_fields__)
            raise ValueError(f"unknown breaker option(s) {names}; known: {known}")
        values: dict[str, int | float] = {}
        for key, text in mine.items():
            kind = int if key in ("failures", "probes") else float
            try:
                values[key] = kind(text)
            except ValueError:
                raise ValueError(
                    f"{OPTION_PREFIX}{key} must be {'an integer' if kind is int else 'a number'}, "
                    f"got {text!r}"
                ) from None
        return cls(**values), rest  # type: ignore[arg-type]


class CircuitBreaker:
    """The breaker's state machine; thread-safe, so RPC threads may read it while the loop runs.

    Args:
        config: thresholds.
        monotonic: the wall clock (injectable so tests step it by hand).
        on_change: called with (old, new) after every transition, outside the lock.
    """

    def __init__(
        self,
        config: BreakerConfig | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.config = config or BreakerConfig()
        self._monotonic = monotonic
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._successes = 0
        self._opened_at_s = 0.0
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        # One attribute read is atomic; the lock orders the changes, which read and write
        # together. Read several times a control pass, so without the lock.
        return self._state

    def allow_request(self) -> bool:
        """May the caller talk to the device now? Moves OPEN to HALF_OPEN once reset_s passed.

        In HALF_OPEN the answer is yes, and the call is a probe: report its outcome.
        """
        with self._lock:
            old = self._state
            if old is BreakerState.OPEN:
                if self._monotonic() - self._opened_at_s < self.config.reset_s:
                    return False
                self._state = BreakerState.HALF_OPEN
                self._successes = 0
        self._notify(old)
        return True

    def record_success(self) -> None:
        with self._lock:
            old = self._state
            self._failures = 0
            if old is BreakerState.HALF_OPEN:
                self._successes += 1
                if self._successes >= self.config.probes:
                    self._state = BreakerState.CLOSED
        self._notify(old)

    def record_failure(self) -> None:
        with self._lock:
            old = self._state
            self._failures += 1
            if old is BreakerState.HALF_OPEN or (
                old is BreakerState.CLOSED and self._failures >= self.config.failures
            ):
                self._state = BreakerState.OPEN
                self._opened_at_s = self._monotonic()
                self.opened_count += 1
        self._notify(old)

    def trip(self) -> None:
        """Open now, whatever the count: the device is known to be unreachable (at start-up),
        so the first probe waits `reset_s` like any other."""
        with self._lock:
            old = self._state
            self._state = BreakerState.OPEN
            self._failures = self.config.failures
            self._opened_at_s = self._monotonic()
            if old is not BreakerState.OPEN:
                self.opened_count += 1
        self._notify(old)

    def _notify(self, old: BreakerState) -> None:
        new = self._state
        if new is not old and self._on_change is not None:
            self._on_change(old, new)
