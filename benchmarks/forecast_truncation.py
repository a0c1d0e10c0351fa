"""How far the loop's forecast model (6 modes) is from the optimiser's (every mode), at the limits.

The optimiser and the observer run `photond.model.loop_model` whole; the loop's forecasts and
re-plans run its truncation to `FORECAST_MODES` so that a re-time fits in a control period
(docs/architecture.md, "Where the limits are enforced"). This measures what the truncation
costs where it matters: the largest |truncated - full| over the limit points (every heater's
footprint and every sensor), for each heater alone and for random patterns (each heater on
with probability 0.3), every heater on at its maximum power, 20 periods on then 20 off from
ambient, at each control period. The planning margin (`thermal_tables.DEFAULT_MARGIN_C`) must
cover it.

Usage: python benchmarks/forecast_truncation.py [--periods-s 0.005 0.01 0.02 0.05]
       [--patterns 50] [--json benchmarks/results/forecast_truncation.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from photon_drivers.profile import load_profile
from photond.model.loop_model import FORECAST_MODES, LoopModel, loop_model
from photond.planning.plan import DEFAULT_MARGIN_C

FloatArray = NDArray[np.float64]
DEFAULT_JSON = Path(__file__).parent / "results" / "forecast_truncation.json"
_ON_PERIODS = 20


def limit_trace_c(model: LoopModel, power_mw: FloatArray) -> FloatArray:
    """(periods, limit points) rise of `power_mw` held for 20 periods, then 20 off."""
    out, feed = model.limit_readout()
    x = np.zeros(model.modes)
    rows = []
    for k in range(2 * _ON_PERIODS):
        u = np.append(power_mw if k < _ON_PERIODS else np.zeros_like(power_mw), 0.0)
        x = model.decay * x + model.input_gain @ u
        rows.append(out @ x + feed @ u)
    return np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods-s", type=float, nargs="+", default=[0.005, 0.01, 0.02, 0.05])
    parser.add_argument("--patterns", type=int, default=50)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    profile = load_profile()
    rows = []
    header = ("period ms", "modes", "single max K", "random max K", "margin K")
    print("{:>9} {:>5} {:>12} {:>12} {:>8}".format(*header))
    for period_s in args.periods_s:
        full = loop_model(profile, period_s)
        cut = full.truncated(FORECAST_MODES)
        peak = full.heater_max_mw
        rng = np.random.default_rng(0)
        single = [np.eye(full.heaters)[k] * peak for k in range(full.heaters)]
        random = [(rng.random(full.heaters) < 0.3) * peak for _ in range(args.patterns)]
        worst = [
            max(float(np.abs(limit_trace_c(cut, p) - limit_trace_c(full, p)).max()) for p in ps)
            for ps in (single, random)
        ]
        rows.append(
            {
                "period_s": period_s,
                "full_modes": full.modes,
                "forecast_modes": cut.modes,
                "single_heater_max_k": worst[0],
                "random_pattern_max_k": worst[1],
                "planning_margin_k": DEFAULT_MARGIN_C,
            }
        )
        print(
            f"{period_s * 1e3:>9.3g} {cut.modes:>2}/{full.modes:<2} {worst[0]:>12.4f} "
            f"{worst[1]:>12.4f} {DEFAULT_MARGIN_C:>8.2f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
