"""The command runs a HotSpot case end to end as a subprocess and writes files that our
readers parse and that match HotSpot's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from photon_drivers.plant.hotspot import read_steady, read_trace

ROOT = Path(__file__).resolve().parents[1]
HOTSPOT = ROOT.parent / "shared" / "thermal" / "hotspot"
pytestmark = pytest.mark.skipif(
    not HOTSPOT.is_dir(), reason=f"HotSpot reference cases not found at {HOTSPOT}"
)


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photon_drivers.plant.hotspot", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_cli_block_steady_and_transient_match_hotspot(tmp_path: Path) -> None:
    common = ("--config", HOTSPOT / "v1_grid8.config", "--flp", HOTSPOT / "v1_grid8.flp")
    steady = _run(*common, "--ptrace", HOTSPOT / "v1_grid8.ptrace",
                  "--steady-file", "out.steady", cwd=tmp_path)  # fmt: skip
    assert steady.returncode == 0, steady.stderr
    trans = _run(*common, "--ptrace", HOTSPOT / "v1_grid8_tr.ptrace",
                 "--trace-file", "out.ttrace", cwd=tmp_path)  # fmt: skip
    assert trans.returncode == 0, trans.stderr

    ours, ref = read_steady(tmp_path / "out.steady"), read_steady(HOTSPOT / "v1_grid8.block.steady")
    assert list(ours) == list(ref)
    assert max(abs(ours[k] - ref[k]) for k in ref) < 1e-5
    got, want = read_trace(tmp_path / "out.ttrace"), read_trace(HOTSPOT / "v1_grid8.block.ttrace")
    assert got.names == want.names
    assert np.abs(got.values - want.values).max() < 1e-4


def test_cli_errors_exit_2_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ptrace"
    bad.write_text("b0_0 b0_1\n0.1\n")
    result = _run("--config", HOTSPOT / "v1_grid8.config", "--flp", HOTSPOT / "v1_grid8.flp",
                  "--ptrace", bad, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert "bad.ptrace:2:" in result.stderr
    missing = _run("--config", tmp_path / "none.config", "--ptrace", bad, cwd=tmp_path)
    assert missing.returncode == 2 and "none.config: file not found" in missing.stderr
    grid_only = _run("--config", HOTSPOT / "v1_grid8.config", "--flp", HOTSPOT / "v1_grid8.flp",
                     "--ptrace", HOTSPOT / "v1_grid8.ptrace", "--model", "block",
                     "--grid-steady-file", "g.cells", cwd=tmp_path)  # fmt: skip
    assert grid_only.returncode == 2 and "grid model" in grid_only.stderr
