"""The RC network integrates exactly, behaves like linear heat conduction, and the chip built
from the default profile meets the figures the profile promises."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photon_drivers import load_profile
from photon_drivers.plant.rc_network import ChipNetwork, FloatArray, RCNetwork, network_from_profile
from photon_drivers.profile import DeviceProfile, LayerSpec, PackageSpec, ProfileError

FAST = settings(max_examples=40, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    """The default chip sketched as a TOML stack (the form without HotSpot files)."""
    return dataclasses.replace(
        load_profile(),
        thermal=None,
        layers=(
            LayerSpec("oxide cladding", 0.0025, 1.4, 1.65e6),
            LayerSpec("buried oxide", 0.002, 1.4, 1.65e6),
            LayerSpec("silicon substrate", 0.725, 148.0, 1.63e6),
        ),
        package=PackageSpec(die_to_ambient_k_per_w=50.0, heat_capacity_j_per_k=0.1),
        grid_rows=8,
        grid_cols=8,
    )


def package_node(chip: ChipNetwork) -> int:
    return chip.network.node_count - 1


def package_to_ambient_k_per_w(chip: ChipNetwork) -> float:
    return float(1.0 / chip.network.to_ambient_w_per_k[package_node(chip)])


@pytest.fixture(scope="module")
def chip(profile: DeviceProfile) -> ChipNetwork:
    return network_from_profile(profile)


def single_node(r_k_per_w: float, c_j_per_k: float) -> RCNetwork:
    return RCNetwork([c_j_per_k], [[0.0]], [1.0 / r_k_per_w])


def test_single_node_settles_to_power_times_resistance() -> None:
    net = single_node(r_k_per_w=40.0, c_j_per_k=0.05)
    assert net.steady_state_rise_k([0.3]) == pytest.approx([12.0], rel=1e-12)
    assert net.time_constants_s == pytest.approx([2.0], rel=1e-12)


@pytest.mark.parametrize("t_s", [0.0, 1e-4, 0.1, 0.5, 2.0, 7.3, 60.0])
def test_single_node_step_response_is_exact(t_s: float) -> None:
    r, c, p = 40.0, 0.05, 0.3
    net = single_node(r, c)
    rise = net.advance([0.0], [p], t_s)
    assert rise == pytest.approx([p * r * (1 - math.exp(-t_s / (r * c)))], rel=1e-12, abs=1e-15)


def test_single_node_exact_for_any_step_pattern() -> None:
    # Exactness means the path does not matter: 1000 small steps land where one big one does.
    net = single_node(40.0, 0.05)
    rise = np.zeros(1)
    for _ in range(1000):
        rise = net.advance(rise, [0.3], 0.005)
    assert rise == pytest.approx(net.advance([0.0], [0.3], 5.0), rel=1e-11)


def test_stiff_network_huge_step_is_stable() -> None:
    # Time constants nine decades apart; an explicit scheme would blow up at this step.
    net = RCNetwork([1e-9, 1.0], [[0.0, 1.0], [1.0, 0.0]], [0.0, 1.0])
    rise = net.advance([1e3, 0.0], [0.0, 0.0], 1e3)
    assert np.all(np.isfinite(rise)) and np.all(np.abs(rise) < 1e-100)
    assert net.advance([0.0, 0.0], [0.5, 0.0], 1e4) == pytest.approx([1.0, 0.5], rel=1e-9)


def test_rejects_node_without_path_to_ambient() -> None:
    with pytest.raises(ValueError, match="no conductive path to ambient"):
        RCNetwork([1.0, 1.0, 1.0], [[0, 1, 0], [1, 0, 0], [0, 0, 0]], [1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("c", "g", "g_amb", "match"),
    [
        ([1.0, 0.0], [[0, 1], [1, 0]], [1, 1], "capacitances"),
        ([1.0, 1.0], [[0, 1], [2, 0]], [1, 1], "symmetric"),
        ([1.0, 1.0], [[0, -1], [-1, 0]], [1, 1], "non-negative"),
        ([1.0, 1.0], [[1, 1], [1, 0]], [1, 1], "zero diagonal"),
        ([1.0, 1.0], [[0, 1], [1, 0]], [1, -1], "to ambient"),
        ([1.0, 1.0], [[0, 1], [1, 0]], [1], "shape"),
    ],
)
def test_rejects_malformed_networks(
    c: list[float], g: list[list[float]], g_amb: list[float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        RCNetwork(c, g, g_amb)


@st.composite
def networks(draw: st.DrawFn) -> RCNetwork:
    n = draw(st.integers(1, 6))
    positive = st.floats(1e-3, 1e3)
    c = [draw(positive) for _ in range(n)]
    g = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            g[i, j] = g[j, i] = draw(st.one_of(st.just(0.0), positive))
    # Every node reaches ambient directly, so the network is always well posed.
    g_amb = [draw(positive) for _ in range(n)]
    return RCNetwork(c, g, g_amb)


def vectors(n: int) -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.floats(-10.0, 10.0), min_size=n, max_size=n).map(np.array)


@FAST
@given(data=st.data(), net=networks(), dt_s=st.floats(0.0, 100.0))
def test_superposition(data: st.DataObject, net: RCNetwork, dt_s: float) -> None:
    n = net.node_count
    x1, x2, p1, p2 = (data.draw(vectors(n)) for _ in range(4))
    both = net.advance(x1 + x2, p1 + p2, dt_s)
    apart = net.advance(x1, p1, dt_s) + net.advance(x2, p2, dt_s)
    assert both == pytest.approx(apart, rel=1e-8, abs=1e-8)
    steady = net.steady_state_rise_k(p1 + p2)
    assert steady == pytest.approx(
        net.steady_state_rise_k(p1) + net.steady_state_rise_k(p2), rel=1e-8, abs=1e-8
    )


@FAST
@given(net=networks())
def test_reciprocity(net: RCNetwork) -> None:
    n = net.node_count
    response = np.column_stack([net.steady_state_rise_k(np.eye(n)[i]) for i in range(n)])
    assert response == pytest.approx(response.T, rel=1e-8, abs=1e-12)
    # Heating a node warms every node, and that node most of all in its own column.
    assert np.all(response >= -1e-12)
    assert np.all(np.diag(response) >= response.max(axis=0) * (1 - 1e-9))


@FAST
@given(net=networks(), dt_s=st.floats(1e-3, 10.0))
def test_free_decay_loses_heat(net: RCNetwork, dt_s: float) -> None:
    warm = net.steady_state_rise_k(np.ones(net.node_count))
    later = net.advance(warm, np.zeros(net.node_count), dt_s)
    assert np.all(later <= warm + 1e-9) and np.all(later >= -1e-9)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(dt_s=st.one_of(st.just(0.0), st.floats(1e-7, 1.0), st.floats(1.0, 1e4)), seed=st.integers(0))
def test_chip_modes_advance_as_each_decays_toward_its_steady_state(
    chip: ChipNetwork, dt_s: float, seed: int
) -> None:
    # Each mode k: e^-λk·dt of what it held plus (1 - e^-λk·dt)/λk of its input, computed here
    # for every mode; the network leaves out the part a settled mode keeps of its past (below
    # e^-42 of it).
    net = chip.network
    rng = np.random.default_rng(seed)
    modes, modal_w = rng.normal(size=(2, net.node_count)) * rng.choice([1e-6, 1.0, 1e3], 2)[:, None]
    rates = 1.0 / net.time_constants_s
    exact = np.exp(-rates * dt_s) * modes - np.expm1(-rates * dt_s) / rates * modal_w
    got = net.advance_modes(modes, modal_w, dt_s)
    assert np.all(np.abs(got - exact) <= 1e-18 * np.abs(modes) + 1e-15 * np.abs(exact))
    # The same step again (its exponentials reused) gives the same.
    assert np.array_equal(net.advance_modes(modes, modal_w, dt_s), got)


# The chip built from the default profile.


def all_heaters_w(chip: ChipNetwork, power_w: float) -> FloatArray:
    node_w: FloatArray = chip.heater_injection @ np.full(len(chip.heater_ids), power_w)
    return node_w


def test_chip_uniform_heating_sees_profile_resistance(
    profile: DeviceProfile, chip: ChipNetwork
) -> None:
    total_w = 1.0
    rise = chip.network.steady_state_rise_k(all_heaters_w(chip, total_w / 64))
    top = rise[chip.top_nodes]
    # Energy balance: all of P leaves through the package's path to ambient.
    assert rise[package_node(chip)] == pytest.approx(
        total_w * package_to_ambient_k_per_w(chip), rel=1e-9
    )
    assert top.mean() == pytest.approx(total_w * profile.package.die_to_ambient_k_per_w, rel=1e-9)
    assert package_to_ambient_k_per_w(chip) < profile.package.die_to_ambient_k_per_w


def test_chip_all_heaters_at_pi_exceed_the_limit(profile: DeviceProfile, chip: ChipNetwork) -> None:
    pi_w = np.array([h.pi_power_mw * 1e-3 for h in profile.heaters])
    rise = chip.network.steady_state_rise_k(chip.heater_injection @ pi_w)
    hottest_c = profile.ambient_c + rise[chip.top_nodes].max()
    assert hottest_c > profile.limits.max_device_temperature_c
    assert hottest_c == pytest.approx(25.0 + 1.28 * 50.0, abs=0.5)


def test_chip_single_heater_hot_spot_is_local_and_bounded(
    profile: DeviceProfile, chip: ChipNetwork
) -> None:
    p_w = 0.020
    j = chip.heater_ids.index("h33")
    rise = chip.network.steady_state_rise_k(chip.heater_injection[:, j] * p_w)
    top = rise[chip.top_nodes]
    r_total = profile.package.die_to_ambient_k_per_w
    assert p_w * r_total < top.max() < 2 * p_w * r_total
    assert np.argwhere(top == top.max()).tolist() == [[3, 3]]
    assert top[0, 7] < top[3, 3]


def test_chip_sensors_read_top_layer(profile: DeviceProfile, chip: ChipNetwork) -> None:
    assert chip.sensor_weights.sum(axis=1) == pytest.approx(np.ones(len(profile.sensors)))
    # Sensor s00 sits on the corner shared by cells (0,0), (0,1), (1,0), (1,1).
    corner = chip.top_nodes[:2, :2].ravel()
    assert chip.sensor_weights[0, corner] == pytest.approx([0.25] * 4)


def test_chip_time_constants_come_from_r_and_c(profile: DeviceProfile, chip: ChipNetwork) -> None:
    tau_s = chip.network.time_constants_s
    die_c = sum(
        layer.volumetric_heat_capacity_j_per_m3_k
        * profile.die_width_mm
        * profile.die_height_mm
        * layer.thickness_mm
        * 1e-9
        for layer in profile.layers
    )
    package = profile.package
    # The slowest mode is die plus package draining through the package resistance.
    assert package.heat_capacity_j_per_k * package_to_ambient_k_per_w(chip) < tau_s[0]
    assert tau_s[0] < (package.heat_capacity_j_per_k + die_c) * package.die_to_ambient_k_per_w
    # The oxide under a heater settles in microseconds: the stiffness exactness is there for.
    assert tau_s[-1] < 1e-4
    assert tau_s[0] / tau_s[-1] > 1e5


def test_chip_rejects_package_below_die_resistance(profile: DeviceProfile) -> None:
    thin = dataclasses.replace(
        profile, package=PackageSpec(die_to_ambient_k_per_w=0.01, heat_capacity_j_per_k=0.1)
    )
    with pytest.raises(ProfileError, match="die_to_ambient_k_per_w"):
        network_from_profile(thin)
