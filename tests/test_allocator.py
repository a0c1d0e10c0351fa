"""The daemon on glibc's malloc, its planning processes on pymalloc (`photond.allocator`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daemon_process import cleanup, start_daemon
from photond import allocator


@pytest.mark.parametrize(
    "orig_argv",
    [
        ["/venv/bin/python", "/venv/bin/photond", "--listen", "unix:/run/p.sock"],
        ["python", "-m", "photond"],
        ["python", "-B", "-X", "importtime", "-m", "photond", "check-config"],
    ],
)
def test_started_as_daemon_knows_the_photond_command_and_python_m_photond(
    orig_argv: list[str],
) -> None:
    assert allocator.started_as_daemon(orig_argv)


@pytest.mark.parametrize(
    "orig_argv",
    [
        ["python", "-m", "pytest", "tests/test_allocator.py"],
        ["python", "-c", "from multiprocessing.spawn import spawn_main; spawn_main()"],
        ["python", "-X", "photond", "-c", "pass"],
        ["python", "benchmarks/startup.py", "-m", "photond"],
        ["python", "/venv/bin/photonctl", "photond"],
        ["python"],
    ],
)
def test_started_as_daemon_is_false_for_any_other_program(orig_argv: list[str]) -> None:
    assert not allocator.started_as_daemon(orig_argv)


def test_a_setting_the_environment_has_is_kept() -> None:
    assert allocator.missing({}) == allocator.DAEMON_ALLOCATOR
    kept = allocator.missing({"PYTHONMALLOC": "pymalloc", "MALLOC_ARENA_MAX": "8"})
    assert kept == {"MALLOC_MMAP_THRESHOLD_": "131072"}


# Small objects (tuples of two floats, ~64 bytes each), every 200th kept: each pymalloc pool
# and each 1 MiB arena keeps a live object, while most 4 KiB pages of glibc's heap are free.
_FRAGMENTED_OBJECTS = """
import json
from photond import memory
blocks = [(float(i), float(-i)) for i in range(800_000)]
allocated = memory.process_memory().anonymous_mb
kept = blocks[::200]
del blocks
released = memory.trim()
print(json.dumps([allocated, memory.process_memory().anonymous_mb, released]))
"""


def _fragmented_objects(python_malloc: str) -> tuple[float, float, float]:
    run = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_OBJECTS],
        capture_output=True,
        text=True,
        check=True,
        env={**_environ(), "PYTHONMALLOC": python_malloc},
    )
    allocated, after, released = json.loads(run.stdout)
    return allocated, after, released


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in allocator.DAEMON_ALLOCATOR}


def test_freed_python_objects_go_back_to_the_os_on_malloc_and_stay_on_pymalloc() -> None:
    allocated, after, released = _fragmented_objects("malloc")
    # ~90 MB of objects allocated, all but every 200th freed.
    assert released > 40, (allocated, after, released)
    assert after < allocated - 40
    allocated, after, released = _fragmented_objects("pymalloc")
    assert released < 15, "pymalloc gave arenas back: the case above tests nothing"
    assert after > allocated - 15


def _environment_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode(errors="replace").partition("=")[::2] for p in pairs if p)


def _planning_processes(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for text in child.read_text().split():
            if b"spawn_main" in Path(f"/proc/{text}/cmdline").read_bytes():
                found.append(int(text))
    return found


def _wait_for_planning_process(pid: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _planning_processes(pid)
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("no planning process started")


@pytest.mark.integration
def test_the_daemon_runs_on_malloc_and_its_planning_process_on_pymalloc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in allocator.DAEMON_ALLOCATOR:
        monkeypatch.delenv(name, raising=False)
    daemon = start_daemon(None)
    try:
        pid = daemon.process.pid
        environment = _environment_of(pid)  # the environment the process was (re)started with
        for name, value in allocator.DAEMON_ALLOCATOR.items():
            assert environment.get(name) == value, (name, environment.get(name))
        worker = _environment_of(_wait_for_planning_process(pid))
        assert not set(worker) & {*allocator.DAEMON_ALLOCATOR, allocator.ADDED_MARKER}
    finally:
        cleanup(daemon)


@pytest.mark.integration
def test_an_allocator_the_operator_chose_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in allocator.DAEMON_ALLOCATOR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONMALLOC", "pymalloc")
    daemon = start_daemon(None)
    try:
        environment = _environment_of(daemon.process.pid)
        assert environment["PYTHONMALLOC"] == "pymalloc"
        assert environment["MALLOC_ARENA_MAX"] == "2"
        worker = _environment_of(_wait_for_planning_process(daemon.process.pid))
        assert worker["PYTHONMALLOC"] == "pymalloc"  # the operator's, passed on as before
        assert "MALLOC_ARENA_MAX" not in worker
    finally:
        cleanup(daemon)
