"""Running a case: the network for the chosen model, power traces mapped onto its blocks,
and the steady and transient results HotSpot would print.

Shared by the command and the benchmark so that both run exactly what the tests check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from photon_drivers.plant.hotspot._block_model import build_block_network
from photon_drivers.plant.hotspot._case import ModelKind, ThermalCase
from photon_drivers.plant.hotspot._errors import ThermalInputError
from photon_drivers.plant.hotspot._grid_model import build_grid_network
from photon_drivers.plant.hotspot._network import FloatArray, PlantNetwork
from photon_drivers.plant.hotspot._steady import steady_state
from photon_drivers.plant.hotspot._traces import Trace
from photon_drivers.plant.hotspot._transient import DEFAULT_MAX_SUBSTEP_S, Method, Transient


def build_network(case: ThermalCase, model: ModelKind | None = None) -> PlantNetwork:
    """Build the plant network of a case: HotSpot's block or grid model (default: case.model)."""
    chosen = model or case.model
    if chosen == "block":
        return build_block_network(case)
    if chosen == "grid":
        return build_grid_network(case)
    raise ValueError(f"unknown model {chosen!r}: use 'block' or 'grid'")


def power_rows(network: PlantNetwork, trace: Trace, path: str | Path | None = None) -> FloatArray:
    """Reorder a power trace's columns to the network's `block_names` (rows x blocks, W).

    Raises:
        ThermalInputError: the trace names a block the floorplan lacks, or misses one.
    """
    known = set(network.block_names)
    unknown = [n for n in trace.names if n not in known]
    if unknown:
        raise ThermalInputError(
            f"power trace names blocks not in the floorplan: {unknown[:5]}", path, 1
        )
    missing = [n for n in network.block_names if n not in trace.names]
    if missing:
        raise ThermalInputError(
            f"power trace has no column for {len(missing)} block(s), e.g. {missing[:5]}", path, 1
        )
    order = [trace.names.index(n) for n in network.block_names]
    return np.asarray(trace.values[:, order], dtype=np.float64)


def steady_from_trace(network: PlantNetwork, powers_w: FloatArray) -> FloatArray:
    """Node temperatures (K) at steady state under the trace's average power, as HotSpot."""
    return steady_state(network, powers_w.mean(axis=0))


def transient_from_trace(
    network: PlantNetwork,
    case: ThermalCase,
    powers_w: FloatArray,
    method: Method = "auto",
    max_substep_s: float | None = DEFAULT_MAX_SUBSTEP_S,
) -> FloatArray:
    """Block temperatures (K) after each trace row, from init_temp, one row per sampling_intvl.

    Raises:
        ThermalInputError: the case has no `init_temp` or `sampling_intvl`.
    """
    if case.init_temp_k is None or case.sampling_interval_s is None:
        raise ThermalInputError("a transient needs -init_temp and -sampling_intvl in the config")
    stepper = Transient(network, case.init_temp_k, method=method, max_substep_s=max_substep_s)
    out = np.empty((len(powers_w), len(network.block_names)))
    for r, row in enumerate(powers_w):
        out[r] = stepper.advance(row, case.sampling_interval_s)
    return out
