"""The base install (no `daemon` extra): `photond` names the extra instead of a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What the console script runs, in a process where the module cannot be imported
# (None in sys.modules is how Python marks a module as unimportable).
BLOCKED = (
    "import sys; sys.modules[{module!r}] = None; from photond.entry import main; sys.exit(main([]))"
)


@pytest.mark.parametrize("module", ["numba", "numpy", "opentelemetry"])
def test_a_missing_daemon_dependency_names_the_extra(module: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", BLOCKED.format(module=module)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "the daemon needs the 'daemon' extra" in run.stderr
    assert "pip install 'photond[daemon]'" in run.stderr


def test_the_extra_named_is_the_one_pyproject_declares() -> None:
    import tomllib
    from pathlib import Path

    from photond.entry import INSTALL_HINT

    pyproject = tomllib.loads(Path(__file__).parents[1].joinpath("pyproject.toml").read_text())
    assert "daemon" in pyproject["project"]["optional-dependencies"]
    assert pyproject["project"]["scripts"]["photond"] == "photond.entry:main"
    assert INSTALL_HINT == "pip install 'photond[daemon]'"
