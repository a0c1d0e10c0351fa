"""The optimiser's thermal check: the interval bound finds the very period a plan first breaks
a limit, the one playing every period would find."""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from photon_drivers.profile import load_profile
from photond.planning.decoder import thermal_args
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.graph import CheckedGraph, CheckedTask
from photond.planning.thermal_check import thermal_violation

PROFILE = load_profile()
ZONES = [z.heater_ids for z in PROFILE.zones]


def _instance(zones: list[int], power_mw: float, durations: list[int]):  # type: ignore[no-untyped-def]
    tasks = tuple(
        CheckedTask(f"t{k}", d * 0.01, dict.fromkeys(ZONES[z], power_mw), (), (), 0.0, 0.0, 0)
        for k, (z, d) in enumerate(zip(zones, durations, strict=True))
    )
    return graph_instance(CheckedGraph(tasks), device_thermal(PROFILE)).instance


def _first_violation_by_playing(th, ends, s, d, i):  # type: ignore[no-untyped-def]
    """Every period from 0: committed task j over [0, ends[j]), i over [s, s + d)."""
    stop = max([*ends, s + d]) + th.tail_ticks
    z = np.zeros(th.decay.shape[0])
    for k in range(stop):
        active = [j for j, e in enumerate(ends) if k < e] + ([i] if s <= k < s + d else [])
        z = th.decay * z + th.task_input[active].sum(axis=0)
        y = th.readout @ z + th.task_feed[active].sum(axis=0)
        gradient = np.abs(y[th.pair_first] - y[th.pair_second]) * th.pair_inv_distance_per_mm
        if k >= s and (y.max() > th.max_rise_k or gradient.max() > th.max_gradient_c_per_mm):
            return k
    return -1


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 7), min_size=2, max_size=7),
    st.floats(120.0, 240.0),
    st.data(),
)
def test_the_first_violating_period_is_the_one_playing_every_period_finds(
    zones: list[int], power_mw: float, data: st.DataObject
) -> None:
    durations = data.draw(st.lists(st.integers(1, 600), min_size=len(zones), max_size=len(zones)))
    inst = _instance(zones, power_mw, durations)
    th = inst.thermal
    assert th is not None
    therm = thermal_args(inst)
    i = len(zones) - 1  # the candidate; every other task is committed from period 0
    ends = [int(inst.duration[j]) for j in range(i)]
    s = data.draw(st.integers(0, max(ends)))
    start = np.zeros(inst.n, dtype=np.int64)
    start[i] = s
    found = thermal_violation(
        s,
        int(inst.duration[i]),
        i,
        0,
        np.zeros(th.decay.shape[0]),
        np.array(ends, dtype=np.int64),
        np.arange(i, dtype=np.int64),
        i,
        therm,
        np.zeros(th.decay.shape[0]),
        start,
        np.zeros(0),
    )
    event("violates" if found >= 0 else "within the limits")
    playing = _first_violation_by_playing(th, ends, s, int(inst.duration[i]), i)  # type: ignore[no-untyped-call]
    assert found == playing
