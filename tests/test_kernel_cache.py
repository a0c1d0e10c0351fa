"""numba's kernel cache follows photond's sources, so an edit can never load stale code."""

from __future__ import annotations

from pathlib import Path

import numba
import pytest

from photond import kernel_cache


def test_numba_caches_photond_kernels_under_the_source_digest() -> None:
    cache_dir = numba.config.CACHE_DIR  # type: ignore[attr-defined]
    assert Path(cache_dir).name == kernel_cache.source_digest()


def test_an_edit_in_any_module_changes_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "optimizer").mkdir()
    callee = tmp_path / "optimizer" / "thermal_check.py"
    callee.write_text("LIMIT = 1\n")
    (tmp_path / "optimizer" / "decoder.py").write_text("from .thermal_check import LIMIT\n")
    monkeypatch.setattr(kernel_cache, "_PACKAGE", tmp_path)
    before = kernel_cache.source_digest()
    callee.write_text("LIMIT = 2\n")
    assert kernel_cache.source_digest() != before


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
