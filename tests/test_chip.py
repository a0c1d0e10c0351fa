"""The default chip as a lab would describe it: HotSpot files behind a TOML profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photon_drivers.plant.chip import chip_network
from photon_drivers.profile import ProfileError, default_profile_path, load_profile
from photond.model import CompactModel

PROFILE = load_profile()


def test_default_chip_is_described_by_hotspot_files() -> None:
    assert PROFILE.thermal is not None
    assert PROFILE.thermal.config.name == "default.config"
    assert [layer.thickness_mm for layer in PROFILE.layers] == [0.0025, 0.002, 0.725, 0.025]


def test_die_to_ambient_is_measured_at_the_design_figure() -> None:
    # DESIGN §2: about 50 K/W; it is computed from the network, not typed in.
    assert PROFILE.package.die_to_ambient_k_per_w == pytest.approx(50.0, rel=0.01)


def test_every_heater_injects_all_its_power_and_every_sensor_reads_one_point() -> None:
    chip = chip_network(PROFILE)
    assert chip.heater_injection.sum(axis=0) == pytest.approx(np.ones(64))
    assert chip.sensor_weights.sum(axis=1) == pytest.approx(np.ones(16))


def test_heater_heats_its_own_corner_of_the_die() -> None:
    chip = chip_network(PROFILE)
    j = chip.heater_ids.index("h00")  # bottom-left mesh cell
    rise = chip.network.steady_state_rise_k(chip.heater_injection[:, j] * 0.02)
    top = rise[chip.top_nodes]
    hottest = tuple(int(k) for k in np.unravel_index(top.argmax(), top.shape))
    assert hottest in {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert top[0, 0] > top[-1, -1]


def test_compact_model_matches_the_finer_plant_within_its_stated_error() -> None:
    # docs/thermal-model.md states 0.05 K at the sensors for the default profile.
    chip = chip_network(PROFILE)
    model = CompactModel.from_profile(PROFILE)
    rng = np.random.default_rng(3)
    for _ in range(5):
        p_mw = rng.uniform(0, 20, 64)
        plant_c = PROFILE.ambient_c + chip.sensor_weights @ chip.network.steady_state_rise_k(
            chip.heater_injection @ (p_mw * 1e-3)
        )
        assert model.steady_state_c(p_mw) == pytest.approx(plant_c, abs=0.05)
        assert np.abs(model.steady_state_c(p_mw) - plant_c).max() > 1e-6, "model is coarser"


def test_profile_and_floorplan_must_agree_on_the_die(tmp_path: Path) -> None:
    profiles = default_profile_path().parent
    text = default_profile_path().read_text().replace('"default.', f'"{profiles}/default.')
    path = tmp_path / "big.toml"
    path.write_text(text.replace("width_mm = 5.0", "width_mm = 6.0", 1))
    with pytest.raises(ProfileError, match="floorplan's die"):
        load_profile(path)


def test_profile_may_not_give_two_stacks(tmp_path: Path) -> None:
    profiles = default_profile_path().parent
    text = default_profile_path().read_text().replace('"default.', f'"{profiles}/default.')
    path = tmp_path / "both.toml"
    path.write_text(
        text + "\n[package]\ndie_to_ambient_k_per_w = 50.0\nheat_capacity_j_per_k = 1\n"
    )
    with pytest.raises(ProfileError, match="not both"):
        load_profile(path)
