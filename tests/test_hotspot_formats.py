"""HotSpot file readers and writers: the shipped files parse, what we write reads back, and
malformed input is refused with the file and line named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photon_drivers.plant.hotspot import (
    Block,
    Floorplan,
    ThermalInputError,
    load_case,
    read_config,
    read_flp,
    read_grid_cells,
    read_lcf,
    read_steady,
    read_trace,
    write_flp,
    write_grid_cells,
    write_steady,
    write_trace,
)

ROOT = Path(__file__).resolve().parents[1]
HOTSPOT = ROOT.parent / "shared" / "thermal" / "hotspot"
needs_refs = pytest.mark.skipif(
    not HOTSPOT.is_dir(), reason=f"HotSpot reference cases not found at {HOTSPOT}"
)


def test_flp_round_trip(tmp_path: Path) -> None:
    fp = Floorplan((Block("a", 1e-3, 2e-3, 0.0, 0.0), Block("b_1", 5e-4, 2e-3, 1e-3, 0.0)))
    write_flp(tmp_path / "x.flp", fp)
    back = read_flp(tmp_path / "x.flp")
    assert back.blocks == fp.blocks
    assert back.width_m == pytest.approx(1.5e-3) and back.height_m == pytest.approx(2e-3)


def test_trace_steady_and_cells_round_trip(tmp_path: Path) -> None:
    values = np.array([[298.15, 301.123456], [299.5, 300.0]])
    write_trace(tmp_path / "t.ttrace", ["a", "b"], values)
    back = read_trace(tmp_path / "t.ttrace")
    assert back.names == ("a", "b")
    np.testing.assert_allclose(back.values, values, atol=5e-7)
    write_steady(tmp_path / "s.steady", ["a", "inode_0"], np.array([310.0, 305.25]))
    assert read_steady(tmp_path / "s.steady") == {"a": 310.0, "inode_0": 305.25}
    cells = [np.arange(4.0) + 300, np.arange(4.0) + 290]
    write_grid_cells(tmp_path / "g.cells", cells)
    for got, want in zip(read_grid_cells(tmp_path / "g.cells"), cells, strict=True):
        np.testing.assert_allclose(got, want)


@needs_refs
def test_shipped_inputs_and_outputs_parse() -> None:
    assert len(read_flp(HOTSPOT / "v1_grid8.flp").blocks) == 64
    assert len(read_flp(HOTSPOT / "v2_mesh64.flp").blocks) == 320
    assert read_trace(HOTSPOT / "v1_grid8_tr.ptrace").values.shape == (200, 64)
    assert read_trace(HOTSPOT / "v1_grid8.block.ttrace").values.shape == (200, 64)
    assert len(read_steady(HOTSPOT / "v1_grid8.block.steady")) == 4 * 64 + 12
    assert len(read_steady(HOTSPOT / "v2_mesh64.grid.steady")) == 6 * 320 + 12
    assert [len(c) for c in read_grid_cells(HOTSPOT / "v2_mesh64.grid.cells")] == [4096] * 6
    layers = read_lcf(HOTSPOT / "v2_mesh64.lcf")
    assert [layer.thickness_m for layer in layers] == [2.5e-6, 2e-6, 725e-6, 25e-6]
    assert [layer.has_power for layer in layers] == [True, False, False, False]
    config = read_config(HOTSPOT / "v1_grid8.config")
    assert config.number("r_convec", "test") == 40.0 and config.unknown_keys == ()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "text", "reader", "where"),
    [
        ("a.flp", "# c\na 1e-3 1e-3 0 0\nb 1e-3 oops 0 0\n", read_flp, ":3:"),
        ("a.flp", "a 1e-3 1e-3 0\n", read_flp, ":1:"),
        ("a.ptrace", "a b\n1 2\n3\n", read_trace, ":3:"),
        ("a.config", "-k_chip 100\n-t_chip\n", read_config, ":2:"),
        ("a.config", "-leakage_used 1\n", read_config, ":1:"),
        ("a.lcf", "0\nY\nQ\n1e6\n0.01\n1e-4\nx.flp\n", read_lcf, ":3:"),
        ("a.lcf", "0\nY\nY\n1e6\n", read_lcf, ":4:"),
    ],
)
def test_malformed_input_names_file_and_line(
    tmp_path: Path, name: str, text: str, reader: object, where: str
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(ThermalInputError, match=f"{name}{where}"):
        reader(path)  # type: ignore[operator]


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ThermalInputError, match=r"nope\.flp: file not found"):
        read_flp(tmp_path / "nope.flp")


@needs_refs
def test_missing_required_key_is_named(tmp_path: Path) -> None:
    text = (HOTSPOT / "v1_grid8.config").read_text().replace("-k_sink\t20.0\n", "")
    config = _write(tmp_path, "c.config", text + "-some_future_key 3\n")
    assert read_config(config).unknown_keys == ("some_future_key",)
    with pytest.raises(ThermalInputError, match=r"c.config: missing required key -k_sink"):
        load_case(config, HOTSPOT / "v1_grid8.flp")
