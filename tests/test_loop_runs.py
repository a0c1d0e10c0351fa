"""photon_bench.loop_runs: the simulated chip that paces the loop while work runs off its thread."""

from __future__ import annotations

import pytest

from photon_bench.loop_runs import RecordingSim
from photon_drivers.clock import ManualClock


def test_a_paced_sample_waits_out_the_period_only_while_work_is_under_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In manual device time the loop runs far faster than real time; while the closed loop
    # computes off its thread (`ClosedLoop.computing`), each pass is stretched to the period,
    # so that the work costs the device time it would on a real clock.
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    sim = RecordingSim.open({}, ManualClock())
    busy = [True]
    sim.pace, sim.pace_s = (lambda: busy[0]), 0.05
    for _ in range(4):
        sim.read_sensors()
    assert len(slept) == 4
    assert all(0.0 <= s <= 0.05 for s in slept)
    busy[0] = False
    for _ in range(4):
        sim.read_sensors()
    assert len(slept) == 4, "no pacing once nothing is under way"
    assert len(sim.true_max_c) == 8
