"""numba's kernel cache follows photond's sources, so an edit can never load stale code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from photond import kernel_cache


@pytest.mark.parametrize("kernels", ["photond.planning.retime", "photond.model.kalman"])
def test_numba_caches_photond_kernels_under_the_source_digest(kernels: str) -> None:
    # In a process of its own: the package that holds a kernel module configures the cache as
    # it is imported, before the module's kernels are defined.
    script = f"import {kernels}, numba; print(numba.config.CACHE_DIR)"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    cache_dir = Path(out.strip())
    assert cache_dir.name == kernel_cache.source_digest()


def test_an_edit_to_a_kernel_source_changes_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "planning").mkdir()
    callee = tmp_path / "planning" / "thermal_check.py"
    callee.write_text("LIMIT = 1\n")
    (tmp_path / "planning" / "decoder.py").write_text("from .thermal_check import LIMIT\n")
    monkeypatch.setattr(kernel_cache, "_PACKAGE", tmp_path)
    before = kernel_cache.source_digest()
    callee.write_text("LIMIT = 2\n")
    assert kernel_cache.source_digest() != before


def test_an_edit_outside_the_kernel_sources_keeps_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "planning").mkdir()
    (tmp_path / "planning" / "decoder.py").write_text("LIMIT = 1\n")
    (tmp_path / "rpc").mkdir()
    handlers = tmp_path / "rpc" / "handlers.py"
    handlers.write_text("A = 1\n")
    monkeypatch.setattr(kernel_cache, "_PACKAGE", tmp_path)
    before = kernel_cache.source_digest()
    handlers.write_text("A = 2\n")
    assert kernel_cache.source_digest() == before


def test_every_kernel_lives_in_the_hashed_sources() -> None:
    # The narrowed hash is only sound while no @njit function lives elsewhere.
    package = Path(kernel_cache.__file__).parent
    hashed = {p.resolve() for p in kernel_cache._kernel_source_files()}
    with_kernels = {
        p.resolve()
        for p in package.rglob("*.py")
        if "@njit" in p.read_text() or "numba.njit" in p.read_text()
    }
    assert with_kernels
    assert with_kernels <= hashed, sorted(str(p) for p in with_kernels - hashed)


@pytest.mark.parametrize(
    ("env", "base"),
    [
        ({"NUMBA_CACHE_DIR": "/srv/numba", "CACHE_DIRECTORY": "/var/cache/photond"}, "/srv/numba"),
        ({"CACHE_DIRECTORY": "/var/cache/photond"}, "/var/cache/photond/numba"),
        ({"XDG_CACHE_HOME": "/home/lab/.cache"}, "/home/lab/.cache/photond/numba"),
    ],
)
def test_the_base_directory_comes_from_the_environment(
    env: dict[str, str], base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NUMBA_CACHE_DIR", "CACHE_DIRECTORY", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert kernel_cache.cache_dir() == Path(base) / kernel_cache.source_digest()
