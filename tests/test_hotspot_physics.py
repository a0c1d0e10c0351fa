"""The plant behaves like linear heat conduction: series resistances, superposition,
reciprocity, exact single-node responses, and an L-stable grid integrator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from photon_drivers.plant.hotspot import (
    Block,
    Floorplan,
    LayerSpec,
    PackageSpec,
    PlantNetwork,
    ThermalCase,
    Transient,
    build_network,
    steady_state,
)

FAST = settings(max_examples=25, deadline=None, derandomize=True)
SIDE_M = 1e-2


def _package(sliver: float = 1e-5) -> PackageSpec:
    """A package barely wider than the die: its ring carries no measurable heat."""
    return PackageSpec(
        spreader_side_m=SIDE_M * (1 + sliver), spreader_thickness_m=1e-3,
        spreader_conductivity_w_per_mk=400.0, spreader_heat_capacity_j_per_m3k=3.55e6,
        sink_side_m=SIDE_M * (1 + 2 * sliver), sink_thickness_m=5e-3,
        sink_conductivity_w_per_mk=400.0, sink_heat_capacity_j_per_m3k=3.55e6,
        convection_resistance_k_per_w=0.5, convection_capacitance_j_per_k=50.0,
    )  # fmt: skip


def _case(n: int, package: PackageSpec, rows: int = 4) -> ThermalCase:
    pitch = SIDE_M / n
    fp = Floorplan(
        tuple(
            Block(f"b{i}_{j}", pitch, pitch, j * pitch, i * pitch)
            for i in range(n)
            for j in range(n)
        )
    )
    return ThermalCase(
        layers=(
            LayerSpec("", 5e-4, 150.0, 1.75e6, fp, has_power=True),
            LayerSpec("iface_", 2e-5, 4.0, 4e6, fp),
        ),
        package=package,
        ambient_k=300.0,
        init_temp_k=300.0,
        grid_rows=rows,
        grid_cols=rows,
    )


@pytest.mark.parametrize("model", ["block", "grid"])
def test_single_block_reduces_to_the_series_resistance(model: str) -> None:
    case = _case(1, _package())
    net = build_network(case, model)  # type: ignore[arg-type]
    rise = net.block_readout @ steady_state(net, np.array([2.0])) - case.ambient_k
    area, pkg = SIDE_M**2, case.package
    r_series = (
        sum(layer.thickness_m / (layer.conductivity_w_per_mk * area) for layer in case.layers)
        + pkg.spreader_thickness_m / (pkg.spreader_conductivity_w_per_mk * area)
        + pkg.sink_thickness_m / (pkg.sink_conductivity_w_per_mk * area)
        + pkg.convection_resistance_k_per_w * pkg.sink_side_m**2 / area
    )
    assert rise[0] == pytest.approx(2.0 * r_series, rel=1e-4)


def _one_node(c_j_per_k: float, r_k_per_w: float) -> PlantNetwork:
    one = sp.csr_matrix(np.ones((1, 1)))
    return PlantNetwork(
        model="block", node_names=("n",), capacitance_j_per_k=np.array([c_j_per_k]),
        conductance_w_per_k=sp.csr_matrix((1, 1)), to_ambient_w_per_k=np.array([1 / r_k_per_w]),
        block_names=("n",), power_injection=one, block_readout=one, report_names=("n",),
        report_readout=one, grid_shape=None, ambient_k=300.0,
    )  # fmt: skip


@pytest.mark.parametrize(("method", "rel"), [("exact", 1e-12), ("tr-bdf2", 1e-4)])
def test_single_rc_node_step_response_and_steady_state(method: str, rel: float) -> None:
    c, r, p = 2e-3, 50.0, 0.1  # tau = 0.1 s, P·R = 5 K
    net = _one_node(c, r)
    assert steady_state(net, np.array([p]))[0] == pytest.approx(300.0 + p * r)
    sim = Transient(net, 300.0, method=method, max_substep_s=1e-3)  # type: ignore[arg-type]
    for k in range(1, 6):
        t = sim.advance(np.array([p]), 0.05)[0]
        assert t - 300.0 == pytest.approx(p * r * -math.expm1(-k * 0.05 / (r * c)), rel=rel)


@pytest.fixture(scope="module")
def block_net() -> PlantNetwork:
    return build_network(_case(3, _package(0.2)), "block")


powers = st.lists(st.floats(0.0, 2.0), min_size=9, max_size=9).map(np.array)


@FAST
@given(p1=powers, p2=powers)
def test_response_to_a_sum_is_the_sum_of_responses(
    block_net: PlantNetwork, p1: np.ndarray, p2: np.ndarray
) -> None:
    def rise(p: np.ndarray) -> np.ndarray:
        steady = steady_state(block_net, p) - block_net.ambient_k
        sim = Transient(block_net, block_net.ambient_k)
        sim.advance(p, 0.01)
        return np.concatenate([steady, sim.temperatures_k - block_net.ambient_k])

    np.testing.assert_allclose(rise(p1 + p2), rise(p1) + rise(p2), atol=1e-9)


@FAST
@given(i=st.integers(0, 8), j=st.integers(0, 8))
def test_reciprocity(block_net: PlantNetwork, i: int, j: int) -> None:
    g = block_net.conductance_w_per_k
    assert abs(g - g.T).max() == 0.0 and g.diagonal().max() == 0.0
    e_i, e_j = np.eye(9)[i], np.eye(9)[j]
    rise_j_from_i = block_net.block_readout @ steady_state(block_net, e_i) - block_net.ambient_k
    rise_i_from_j = block_net.block_readout @ steady_state(block_net, e_j) - block_net.ambient_k
    assert rise_j_from_i[j] == pytest.approx(rise_i_from_j[i], rel=1e-10)


def test_grid_power_is_conserved_and_conductance_symmetric() -> None:
    net = build_network(_case(3, _package(0.2), rows=8), "grid")  # blocks straddle cells
    np.testing.assert_allclose(np.asarray(net.power_injection.sum(axis=0)).ravel(), 1.0)
    g = net.conductance_w_per_k
    assert abs(g - g.T).max() == 0.0


def test_tr_bdf2_tracks_the_exact_solution_and_is_l_stable() -> None:
    net = build_network(_case(3, _package(0.2), rows=8), "grid")
    exact = Transient(net, 300.0, method="exact")
    implicit = Transient(net, 300.0, method="tr-bdf2")  # default 100 µs substeps
    p = np.linspace(0.5, 2.0, 9)
    worst = 0.0
    for _ in range(20):
        worst = max(worst, float(np.abs(exact.advance(p, 1e-3) - implicit.advance(p, 1e-3)).max()))
    peak = float(exact.block_temperatures_k.max()) - 300.0
    assert worst < 1e-3 * peak
    # One step far longer than every time constant (the slowest is ~25 s) lands on the steady
    # state: L-stability damps every mode by ~1/(λ·h), with no ringing of the fast ones.
    one_step = Transient(net, 300.0, method="tr-bdf2", max_substep_s=None)
    one_step.advance(p, 1e8)
    np.testing.assert_allclose(one_step.temperatures_k, steady_state(net, p), rtol=0, atol=1e-5)
