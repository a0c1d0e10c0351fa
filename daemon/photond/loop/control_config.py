"""How the closed loop reacts, as the configuration file's [closed_loop] table sets it.

A module of its own, beside `closed_loop`, so that reading the configuration does not import
the loop's numba kernels. The fields are explained in `closed_loop`'s docstring and in
README.md (configuration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from photond.loop.observer import ObserverConfig
from photond.planning.plan import DEFAULT_MARGIN_C

MODES = ("closed", "reactive", "open")


@dataclass(frozen=True)
class ControlConfig:
    """How the loop reacts (see `closed_loop`'s docstring). Temperatures in °C, times in s."""

    mode: str = "closed"
    margin_c: float = 2.0
    headroom_c: float = 0.5
    drift_threshold_c: float = 2.0
    forecast_every_periods: int = 10
    replan_budget_s: float = 0.1
    hold_timeout_s: float = 60.0
    observer: ObserverConfig = field(default_factory=ObserverConfig)

    @property
    def planning_margin_c(self) -> float:
        """How far below max temperature new plans should peak.

        In ``closed`` and ``reactive`` modes, a plan peaking above max - `margin_c` would be
        re-planned (or throttled) as soon as it runs, so the optimiser plans to where a re-plan
        would aim (`margin_c` + `headroom_c` below); ``open`` keeps only the model's margin.
        """
        if self.mode == "open":
            return DEFAULT_MARGIN_C
        return max(DEFAULT_MARGIN_C, self.margin_c + self.headroom_c)

    def checked(self) -> ControlConfig:
        if self.mode not in MODES:
            raise ValueError(
                f"closed_loop.mode must be one of {', '.join(MODES)}, got {self.mode!r}"
            )
        for name in ("margin_c", "drift_threshold_c", "replan_budget_s", "hold_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"closed_loop.{name} must be a positive number, got {value}")
        if not (math.isfinite(self.headroom_c) and self.headroom_c >= 0):
            raise ValueError(f"closed_loop.headroom_c must be >= 0, got {self.headroom_c}")
        if self.forecast_every_periods < 1:
            raise ValueError("closed_loop.forecast_every_periods must be at least 1")
        return self
