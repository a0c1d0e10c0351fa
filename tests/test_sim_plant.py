"""The simulated chip's physics is today's: its trajectory through a scripted run (heaters in
groups, uneven steps, long catch-ups, a stuck heater, a room step and drift, degraded cooling,
a plant mismatch) matches the one recorded from the plant before its storage and per-step
arithmetic were made cheaper (`plant_scenario.py`), far below the sensor noise; and the plant
keeps one dense node-by-node matrix, not four."""

from __future__ import annotations

import numpy as np
import pytest

from photon_drivers.plant.chip import chip_network
from photon_drivers.profile import load_profile
from plant_scenario import RECORDING, play

# Rounding only (degrading the cooling decomposes the network again: ~2e-9 K since), orders
# of magnitude below any sensor's noise (the default chip's is 0.05 K).
TRAJECTORY_TOLERANCE_K = 1e-6


@pytest.fixture(scope="module")
def recording() -> dict[str, np.ndarray]:
    with np.load(RECORDING) as data:
        return dict(data)


def test_plant_trajectory_is_the_recorded_one(recording: dict[str, np.ndarray]) -> None:
    top, readings = play()
    noise_k = min(s.noise_c for s in load_profile().sensors)
    assert noise_k / 1000 > TRAJECTORY_TOLERANCE_K
    assert top.shape == recording["top"].shape
    assert np.abs(top - recording["top"]).max() < TRAJECTORY_TOLERANCE_K
    # Readings are quantised: rounding could only flip one at a step's exact edge.
    resolution = np.array([s.resolution_c for s in load_profile().sensors])
    steps = np.abs(readings - recording["readings"]) / resolution
    assert steps.max() <= 1.0 + 1e-9
    assert (steps > 0.5).sum() <= 2


def test_mismatched_plant_trajectory_is_the_recorded_one(recording: dict[str, np.ndarray]) -> None:
    top, _ = play(0.2, steps=120)
    assert np.abs(top - recording["top_mismatch"]).max() < TRAJECTORY_TOLERANCE_K


def test_plant_keeps_one_dense_node_matrix() -> None:
    # 1,548 nodes on the default chip: four dense n x n float64 matrices were 77 MB.
    network = chip_network(load_profile()).network
    n = network.node_count
    dense = [
        value
        for value in vars(network).values()
        if isinstance(value, np.ndarray) and value.size >= n * n
    ]
    assert len(dense) == 1
    assert network.sparse_conductance_w_per_k.nnz < 10 * n
