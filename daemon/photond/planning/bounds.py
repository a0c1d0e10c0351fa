"""Lower bounds on the makespan: critical path, work per resource, and the thermal bound.

* Critical path: the longest chain of durations through the precedence graph, release times
  included. No schedule can be shorter whatever the resources.
* Work ÷ capacity, per resource: a resource of capacity c that must carry Σ demand·duration of
  work needs at least ⌈work / c⌉ time (lanes, RCPSP resources, STG processors, heaters).
* Thermal bound (energy balance): every joule the heaters put in either leaves through the
  package or stays stored in the die and package. While every point stays at or below the limit
  T_max, the package carries away at most P_max = (T_max - T_amb) / R_die→ambient, and the
  heat capacity C stores at most C·(T_max - T_amb) (minus what it already holds). So a plan
  needing energy E lasts at least (E - C·(T_max - T_amb) + stored₀) / P_max. It assumes the
  die is close to isothermal next to its rise, which holds for the spread the gradient limit
  allows; it is the bound the gap is reported against when heat, not lanes, is what binds.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from photond.planning.instance import Instance
from photond.planning.seed import earliest_starts


def critical_path_ticks(inst: Instance) -> int:
    """Longest precedence chain, release times included (ticks)."""
    if inst.n == 0:
        return 0
    return int((earliest_starts(inst) + inst.duration).max())


def critical_path_length(
    inst: Instance, duration: NDArray[np.float64], release: NDArray[np.float64]
) -> float:
    """Longest precedence chain of `inst`'s graph with other durations and releases (seconds)."""
    if inst.n == 0:
        return 0.0
    return float((earliest_starts(inst, duration, release) + duration).max())


def resource_bound(inst: Instance, duration: NDArray[np.int64] | NDArray[np.float64]) -> float:
    """max over resources (and pooled explicit lanes) of Σ demand·duration / capacity.

    `duration` is the instance's own (ticks) or the tasks' durations in seconds: a plan's
    makespan in seconds must be bounded by seconds, since ticks round durations up.
    """
    owner = np.repeat(np.arange(inst.n), np.diff(inst.dem_ptr))
    work = np.zeros(inst.capacity.shape[0], dtype=np.float64)
    np.add.at(work, inst.dem_res, inst.dem_amt * duration[owner])
    best = max(
        (float(w) / int(c) for w, c in zip(work, inst.capacity, strict=True) if c > 0), default=0.0
    )
    if inst.lanes:
        best = max(best, float(duration.sum()) / inst.lanes)
    return best


def resource_bound_ticks(inst: Instance) -> int:
    """`resource_bound` in whole ticks."""
    return math.ceil(resource_bound(inst, inst.duration) - 1e-9)


def lower_bound_ticks(inst: Instance) -> int:
    """The largest of the structural bounds (the thermal bound is in seconds: see below)."""
    return max(critical_path_ticks(inst), resource_bound_ticks(inst))


def lower_bound_s(
    inst: Instance, duration_s: NDArray[np.float64], release_s: NDArray[np.float64]
) -> float:
    """The structural bounds of `inst`'s graph and resources with durations in seconds."""
    return max(critical_path_length(inst, duration_s, release_s), resource_bound(inst, duration_s))


def thermal_bound_s(
    energy_j: float,
    *,
    max_rise_k: float,
    die_to_ambient_k_per_w: float,
    heat_capacity_j_per_k: float,
    stored_j: float = 0.0,
) -> float:
    """The energy-balance bound of the module docstring, in seconds (0 when heat never binds)."""
    if max_rise_k <= 0:
        return math.inf if energy_j > 0 else 0.0
    carried_w = max_rise_k / die_to_ambient_k_per_w
    storable_j = heat_capacity_j_per_k * max_rise_k - stored_j
    return max(0.0, (energy_j - storable_j) / carried_w)
