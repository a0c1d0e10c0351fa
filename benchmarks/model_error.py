"""Measure the compact model's error against the plant it is derived from, on the default profile.

Steady cases (one heater, one zone, every heater at its π power, a checkerboard at π power) and
transient cases (every heater stepped to π power from ambient, and a random zone schedule
changing every period) over 10 s of device time at the control period. For each, per sensor
(and per heater footprint, which the phase-drift metric reads): the largest absolute error in K
over the trace, and that error as a % of the plant's largest rise at that point in the case.

The plant is `photon_drivers.plant.rc_network` integrated exactly (modal, all 193 nodes), so every
difference is the compact model's truncation, not integration error of either side.

Usage: python benchmarks/model_error.py [--json PATH] [--modes 1,4,16] [--duration-s 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from photon_drivers.plant.chip import chip_network
from photon_drivers.plant.rc_network import ChipNetwork
from photon_drivers.profile import DeviceProfile, load_profile
from photond.model.compact import DEFAULT_DT_S, DEFAULT_MODES, CompactModel, Readout
from photond.model.zones import zone_schedule_to_heaters

FloatArray = NDArray[np.float64]
DEFAULT_JSON = Path(__file__).parent / "results" / "model_error.json"


def steady_cases(profile: DeviceProfile) -> dict[str, FloatArray]:
    pi_mw = np.array([h.pi_power_mw for h in profile.heaters])
    ids = [h.id for h in profile.heaters]
    one = np.zeros(len(ids))
    one[ids.index("h33") if "h33" in ids else 0] = pi_mw[0]
    zone = np.zeros(len(ids))
    for heater_id in profile.zones[len(profile.zones) // 2].heater_ids:
        zone[ids.index(heater_id)] = pi_mw[ids.index(heater_id)]
    checker = np.where(np.arange(len(ids)) % 2 == (np.arange(len(ids)) // 8) % 2, pi_mw, 0.0)
    return {"one heater": one, "one zone": zone, "all at pi": pi_mw, "checkerboard": checker}


def transient_cases(profile: DeviceProfile, steps: int) -> dict[str, FloatArray]:
    pi_mw = np.array([h.pi_power_mw for h in profile.heaters])
    rng = np.random.default_rng(0)
    zone_full_mw = 20.0 * len(profile.heaters) / len(profile.zones)
    zone_mw = rng.uniform(0.0, zone_full_mw, (steps, len(profile.zones)))
    return {
        "step all at pi": np.tile(pi_mw, (steps, 1)),
        "random zones": zone_schedule_to_heaters(profile, zone_mw),
    }


def plant_readouts(chip: ChipNetwork) -> dict[Readout, FloatArray]:
    return {"sensors": chip.sensor_weights, "heaters": chip.heater_injection.T}


def plant_trace_k(chip: ChipNetwork, schedule_mw: FloatArray, dt_s: float) -> FloatArray:
    """Node rises at the end of every period, exactly."""
    rise = np.zeros(chip.network.node_count)
    rows = np.empty((schedule_mw.shape[0], rise.shape[0]))
    for k, p in enumerate(schedule_mw):
        rise = chip.network.advance(rise, chip.heater_injection @ (p * 1e-3), dt_s)
        rows[k] = rise
    return rows


def error_row(model_c: FloatArray, plant_c: FloatArray, ambient_c: float) -> dict[str, Any]:
    err = np.abs(model_c - plant_c).reshape(-1, plant_c.shape[-1]).max(axis=0)
    rise = np.abs(plant_c - ambient_c).reshape(-1, plant_c.shape[-1]).max(axis=0)
    pct = 100 * err / np.maximum(rise, 1e-12)
    return {
        "max_error_k": float(err.max()),
        "max_error_pct_of_rise": float(pct.max()),
        "peak_rise_k": float(rise.max()),
        "per_point_max_error_k": err.tolist(),
        "per_point_error_pct_of_rise": pct.tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--modes", default=f"1,4,{DEFAULT_MODES}")
    parser.add_argument("--dt-s", type=float, default=DEFAULT_DT_S)
    parser.add_argument("--duration-s", type=float, default=10.0)
    args = parser.parse_args()

    profile = load_profile()
    chip = chip_network(profile)  # the simulated chip's plant, finer than the model's grid
    steps = round(args.duration_s / args.dt_s)
    ambient = profile.ambient_c
    readouts = plant_readouts(chip)
    steady = steady_cases(profile)
    transient = transient_cases(profile, steps)
    plant_steady = {
        name: chip.network.steady_state_rise_k(chip.heater_injection @ (p * 1e-3))
        for name, p in steady.items()
    }
    plant_transient = {name: plant_trace_k(chip, s, args.dt_s) for name, s in transient.items()}
    rows: list[dict[str, Any]] = []
    print(
        f"compact model vs plant ({chip.network.node_count} nodes), dt {args.dt_s} s, "
        f"transients {steps} steps ({args.duration_s} s); error = max |model - plant| per point"
    )
    print(
        f"{'modes':>5} {'case':<16} {'kind':<9} {'at':<8} {'rise K':>8} {'max err K':>10} "
        f"{'% rise':>9}"
    )
    for modes in (int(m) for m in args.modes.split(",")):
        model = CompactModel.from_profile(profile, modes=modes, dt_s=args.dt_s)
        for at, weights in readouts.items():
            cases: list[tuple[str, str, FloatArray, FloatArray]] = []
            for name, p in steady.items():
                plant_c = ambient + weights @ plant_steady[name]
                cases.append((name, "steady", model.steady_state_c(p, at), plant_c))
            for name, s in transient.items():
                plant_c = ambient + plant_transient[name] @ weights.T
                cases.append((name, "transient", model.simulate(s, at=at), plant_c))
            for name, kind, model_c, plant_c in cases:
                row = {"modes": modes, "case": name, "kind": kind, "at": at}
                row |= error_row(model_c, plant_c, ambient)
                rows.append(row)
                print(
                    f"{modes:>5} {name:<16} {kind:<9} {at:<8} {row['peak_rise_k']:>8.3f} "
                    f"{row['max_error_k']:>10.2e} {row['max_error_pct_of_rise']:>9.2e}"
                )
    result = {
        "benchmark": "model_error",
        "profile": profile.model,
        "plant_nodes": chip.network.node_count,
        "dt_s": args.dt_s,
        "transient_steps": steps,
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
