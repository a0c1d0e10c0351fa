"""photon_sdk.workloads: model shapes, the Clements decomposition, heater powers, task graphs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interferometer import main as reference  # type: ignore[import-untyped]

from photon_drivers.profile import DeviceProfile
from photon_drivers.profile.reader import load_profile
from photon_sdk.workloads import (
    Gemm,
    Mesh,
    WorkloadError,
    bert_base,
    from_gemms,
    gpt2_small,
    resnet50,
    tile_powers_mw,
    to_task_graph,
)
from photon_sdk.workloads.clements import decompose, mzi_columns, reconstruct


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    return load_profile()


def haar_unitary(n: int, seed: int) -> np.ndarray:
    """Haar-random unitary: QR of a complex Gaussian, R's diagonal phases divided out."""
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))) / np.sqrt(2)
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


def test_resnet50_weights_match_torchvision() -> None:
    # torchvision's resnet50 has 25,557,032 parameters: 53,120 batch-norm ones and the
    # classifier's 1,000 biases are not matrix entries.
    assert resnet50().weight_count == 25_557_032 - 53_120 - 1_000
    assert len(resnet50().gemms) == 54  # conv1, 16 blocks x 3 convs, 4 projections, fc


def test_transformer_weight_matrices_match_published_sizes() -> None:
    per_layer = 4 * 768 * 768 + 2 * 768 * 3072  # Q, K, V, output; the two MLP matrices
    bert = bert_base(seq_len=128)
    weights = sum(g.weight_count for g in bert.gemms if g.operand == "weight")
    assert weights == 12 * per_layer + 768 * 768  # + pooler
    gpt = gpt2_small(seq_len=1024)
    weights = sum(g.weight_count for g in gpt.gemms if g.operand == "weight")
    assert weights == 12 * per_layer + 768 * 50257  # + the tied LM head
    scores = next(g for g in gpt.gemms if g.name == "h.0.attn.scores")
    assert (scores.m, scores.k, scores.n, scores.batch) == (1024, 64, 1024, 12)


def test_models_refuse_bad_arguments() -> None:
    with pytest.raises(WorkloadError, match="seq_len"):
        bert_base(seq_len=513)
    with pytest.raises(WorkloadError, match="seq_len"):
        gpt2_small(seq_len=0)
    with pytest.raises(WorkloadError, match="image_size"):
        resnet50(image_size=100)


def test_from_gemms_names_the_bad_gemm() -> None:
    with pytest.raises(WorkloadError, match=r"gemms\[1\] \('b'\)\.after: 'c'"):
        from_gemms([Gemm("a", 1, 8, 8), Gemm("b", 1, 8, 8, after=("c",))])
    with pytest.raises(WorkloadError, match=r"gemms\[1\].*duplicate"):
        from_gemms([("a", 1, 8, 8), ("a", 1, 8, 8)])
    with pytest.raises(WorkloadError, match=r"\.k: must be an integer >= 1"):
        from_gemms([("a", 1, 0, 8)])
    with pytest.raises(WorkloadError, match=r"\.weights: shape"):
        from_gemms([Gemm("a", 1, 8, 8, weights=np.ones((8, 4)))])
    with pytest.raises(WorkloadError, match="at least one"):
        from_gemms([])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
def test_decomposition_reproduces_a_haar_unitary(n: int, seed: int) -> None:
    u = haar_unitary(n, seed)
    phases = decompose(u)
    assert np.abs(reconstruct(phases)[0] - u).max() < 1e-9
    assert np.all((phases.theta >= 0) & (phases.theta <= np.pi / 2))
    assert np.all((phases.phi >= 0) & (phases.phi < 2 * np.pi))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
def test_decomposition_of_a_real_orthogonal_matrix_needs_only_0_or_pi(n: int, seed: int) -> None:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    phases = decompose(q)
    assert np.abs(reconstruct(phases)[0] - q).max() < 1e-9
    assert set(np.unique(phases.phi)) <= {0.0, np.pi}
    assert set(np.unique(phases.output)) <= {0.0, np.pi}


def test_decomposition_agrees_with_the_papers_reference_implementation() -> None:
    for n in (3, 6, 8):
        u = haar_unitary(n, n)
        ours = decompose(u)
        theirs = reference.square_decomposition(u)
        assert [bs.mode1 - 1 for bs in theirs.BS_list] == list(ours.modes)
        theta = np.array([bs.theta for bs in theirs.BS_list])
        phi = np.array([bs.phi for bs in theirs.BS_list])
        assert np.allclose(theta, ours.theta[0], atol=1e-9)
        # Same phase modulo 2π (the reference leaves them in (-π, π]).
        assert np.allclose(np.exp(1j * phi), np.exp(1j * ours.phi[0]), atol=1e-9)


def test_mzis_fill_n_columns_of_alternating_parity() -> None:
    for n in (4, 8):
        modes = decompose(np.eye(n)).modes
        columns = mzi_columns(n)
        assert max(columns) == n - 1
        assert all(m % 2 == c % 2 for m, c in zip(modes, columns, strict=True))


def test_mesh_gives_every_default_heater_one_role(profile: DeviceProfile) -> None:
    mesh = Mesh.from_device(profile)
    roles = np.concatenate([mesh.theta_heaters, mesh.phi_heaters, mesh.output_heaters])
    assert mesh.size == 8
    assert sorted(roles) == list(range(64))
    assert len(mesh.wavelength_lanes) == 8


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(1e-3, 1e3))
def test_real_tile_powers_stay_within_the_profiles_maxima(seed: int, scale: float) -> None:
    profile = load_profile()
    mesh = Mesh.from_device(profile)
    tiles = np.random.default_rng(seed).normal(0, scale, size=(16, 8, 8))
    powers = tile_powers_mw(tiles, mesh)
    maxima = np.array([h.max_power_mw for h in profile.heaters])
    pi_power = np.array([h.pi_power_mw for h in profile.heaters])
    assert powers.shape == (16, 2, 64)
    assert np.all(powers >= 0) and np.all(powers <= maxima) and np.all(powers <= pi_power)


def test_tile_powers_reprogram_the_tile(profile: DeviceProfile) -> None:
    """Powers back to phases back to matrices: U Σ V† is the tile again."""
    mesh = Mesh.from_device(profile)
    tile = np.random.default_rng(7).normal(size=(8, 8))
    powers = tile_powers_mw(tile[None], mesh)[0]
    _, sigma, _ = np.linalg.svd(tile)
    rebuilt = []
    for setting in powers:
        phase = setting / mesh.pi_power_mw * np.pi
        phases = decompose(np.eye(8))  # the modes; phases replaced below
        rebuilt.append(
            reconstruct(
                type(phases)(
                    modes=phases.modes,
                    theta=(phase[mesh.theta_heaters] / 2)[None],
                    phi=phase[mesh.phi_heaters][None],
                    output=phase[mesh.output_heaters][None],
                )
            )[0]
        )
    v_h, u = rebuilt
    assert np.abs(u @ np.diag(sigma) @ v_h - tile).max() < 1e-9


def test_complex_unitary_beyond_the_heaters_range_names_the_heater(
    profile: DeviceProfile,
) -> None:
    # The default heaters reach 1.5π (30 mW at P_π 20 mW); a complex unitary needs up to 2π.
    mesh = Mesh.from_device(profile)
    with pytest.raises(WorkloadError, match=r"heater 'h\d\d' would need .* above its maximum 30"):
        mesh.powers_mw(decompose(haar_unitary(8, 3)))


def test_task_graph_of_resnet_layers_is_valid_and_ordered(profile: DeviceProfile) -> None:
    workload = resnet50().first(5)
    graph = to_task_graph(workload, profile, tiles_per_task=64)
    graph.validate()
    heater_ids = {h.id for h in profile.heaters}
    tiles = {g.name: g.tiles(8) for g in workload.gemms}
    for gemm in workload.gemms:
        tasks = [t for t in graph if t.id.startswith(gemm.name + "#")]
        assert len(tasks) == -(-tiles[gemm.name] // 64)
        milestone = graph.task(gemm.name)
        assert milestone.duration_s == 0 and set(milestone.depends_on) == {t.id for t in tasks}
        for task in tasks:
            assert set(task.heater_power_mw) <= heater_ids
            assert max(task.heater_power_mw.values()) <= 30.0
    # layer1.0.conv1 and the projection shortcut both read the stem; conv2 reads conv1.
    assert graph.task("layer1.0.conv1#0").depends_on == ("conv1",)
    assert graph.task("layer1.0.downsample#0").depends_on == ("conv1",)
    assert graph.task("layer1.0.conv2#0").depends_on == ("layer1.0.conv1",)


def test_task_power_is_the_mean_of_its_tiles_settings(profile: DeviceProfile) -> None:
    mesh = Mesh.from_device(profile)
    weights = np.random.default_rng(1).normal(size=(20, 12))  # 3 x 2 tiles, padded edges
    workload = from_gemms([Gemm("fc", m=100, k=20, n=12, weights=weights)])
    graph = to_task_graph(workload, profile, tiles_per_task=4, settle_s=1e-5, symbol_rate_hz=1e9)
    padded = np.zeros((24, 16))
    padded[:20, :12] = weights
    # Tile order: output block, then input block; the mesh applies the transpose.
    tiles = np.array(
        [padded[i * 8 : i * 8 + 8, o * 8 : o * 8 + 8].T for o in (0, 1) for i in (0, 1, 2)]
    )
    expected = tile_powers_mw(tiles, mesh)
    first, second = graph.task("fc#0"), graph.task("fc#1")
    for task, chunk in ((first, expected[:4]), (second, expected[4:])):
        mean = chunk.mean(axis=(0, 1))
        got = np.array([task.heater_power_mw.get(h, 0.0) for h in mesh.heater_ids])
        assert np.allclose(got, mean, atol=1e-6)
    # 2 settings per tile, each 10 µs to settle plus ceil(100 / 8 lanes) = 13 symbols at 1 GBd.
    assert first.duration_s == pytest.approx(4 * 2 * (1e-5 + 13e-9))
    assert second.duration_s == pytest.approx(2 * 2 * (1e-5 + 13e-9))


def test_seed_changes_random_weights_and_only_them(profile: DeviceProfile) -> None:
    workload = resnet50().first(1)
    a = to_task_graph(workload, profile, seed=1)
    b = to_task_graph(workload, profile, seed=1)
    c = to_task_graph(workload, profile, seed=2)
    assert a == b
    assert a.task("conv1#0").heater_power_mw != c.task("conv1#0").heater_power_mw
    assert a.task("conv1#0").duration_s == c.task("conv1#0").duration_s


def test_grouping_and_drift_tolerance_reach_the_tasks(profile: DeviceProfile) -> None:
    workload = resnet50().first(1)  # conv1: 19 x 8 = 152 tiles
    assert len(to_task_graph(workload, profile, tiles_per_task=152)) == 2
    graph = to_task_graph(workload, profile, tiles_per_task=10, drift_tolerance_rad=0.05)
    assert len(graph) == 16 + 1
    assert {t.drift_tolerance_rad for t in graph if t.duration_s > 0} == {0.05}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tiles_per_task": 0}, "tiles_per_task"),
        ({"settle_s": -1.0}, "settle_s"),
        ({"symbol_rate_hz": float("nan")}, "symbol_rate_hz"),
        ({"drift_tolerance_rad": -0.1}, "drift_tolerance_rad"),
    ],
)
def test_mapping_refuses_bad_parameters(
    profile: DeviceProfile, kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(WorkloadError, match=field):
        to_task_graph(resnet50().first(1), profile, **kwargs)  # type: ignore[arg-type]


def test_a_device_without_a_heater_grid_is_refused(profile: DeviceProfile) -> None:
    import dataclasses

    odd = dataclasses.replace(profile, heaters=profile.heaters[:63])
    with pytest.raises(WorkloadError, match="63 heaters"):
        Mesh.from_device(odd)


def test_workloads_need_numpy_but_nothing_of_the_daemon() -> None:
    """Import and map with photond, photon_drivers, numba and scipy hidden (a compile host)."""
    import subprocess
    import sys

    code = """
import importlib.abc, sys
from types import SimpleNamespace as NS
HIDDEN = {"photond", "photon_drivers", "numba", "scipy", "onnx"}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ImportError(name + " hidden")
sys.meta_path.insert(0, Hide())
from photon_sdk.workloads import resnet50, to_task_graph
heaters = [NS(id=f"h{r}{c}", x_mm=c, y_mm=r, max_power_mw=30.0, pi_power_mw=20.0)
           for r in range(4) for c in range(4)]
device = NS(heaters=heaters, lanes=[NS(id="wl0", kind="wavelength")])
graph = to_task_graph(resnet50().first(2), device)
assert len(graph) > 2 and max(max(t.heater_power_mw.values(), default=0) for t in graph) <= 20
assert not HIDDEN & {m.partition(".")[0] for m in sys.modules}
from photon_sdk.workloads import from_onnx
try:
    from_onnx("model.onnx")
except ImportError as exc:
    assert "pip install 'photond[onnx]'" in str(exc), exc
else:
    raise AssertionError("from_onnx ran without onnx")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
