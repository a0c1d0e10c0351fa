"""The `photond` command: the extra it names on a base install, instead of a traceback; the
allocator it runs the daemon on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from daemon_process import RunningDaemon, cleanup, planning_workers, start_daemon
from photon_sdk import Client

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


def _environ(pid: int) -> dict[str, str]:
    """The environment process `pid` was started (or last re-executed) with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


def _workers_of(daemon: RunningDaemon) -> list[int]:
    deadline = time.monotonic() + 120
    while not (workers := planning_workers(daemon)):
        assert time.monotonic() < deadline, "no planning process started"
        time.sleep(0.1)
    return workers


@pytest.mark.integration
def test_the_daemon_runs_on_glibc_malloc_and_its_planning_processes_on_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    daemon = start_daemon(None)
    try:
        # The same process, started again on glibc's malloc before it served.
        assert _environ(daemon.process.pid)["PYTHONMALLOC"] == "malloc"
        assert b"\0-P\0-m\0photond\0" in Path(f"/proc/{daemon.process.pid}/cmdline").read_bytes()
        with Client(daemon.target) as client:
            assert client.check_health()
        for worker in _workers_of(daemon):
            assert "PYTHONMALLOC" not in _environ(worker)
    finally:
        cleanup(daemon)


@pytest.mark.integration
def test_an_operators_allocator_stands_for_the_daemon_and_its_planning_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONMALLOC", "pymalloc")
    daemon = start_daemon(None)
    try:
        with Client(daemon.target) as client:
            assert client.check_health()
        assert _environ(daemon.process.pid)["PYTHONMALLOC"] == "pymalloc"
        for worker in _workers_of(daemon):
            assert _environ(worker)["PYTHONMALLOC"] == "pymalloc"
    finally:
        cleanup(daemon)
