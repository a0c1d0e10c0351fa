"""Every Python example of docs/sdk.md runs, as written, against real daemons.

The examples name the system socket and a lab host ("lab-02:7451"); the test swaps those for
the test daemons' sockets, and points PHOTON_TARGET (what ``Client()`` uses) at the first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon

pytestmark = pytest.mark.integration

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "sdk.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def second_daemon() -> Iterator[RunningDaemon]:
    running = start_daemon()
    yield running
    cleanup(running)


def test_the_guide_has_examples() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_example_runs(daemon: RunningDaemon, second_daemon: RunningDaemon, number: int) -> None:
    code = BLOCKS[number]
    code = code.replace('"unix:/run/photond/photond.sock"', repr(daemon.target))
    code = code.replace('"lab-02:7451"', repr(second_daemon.target))
    ran = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PHOTON_TARGET": daemon.target},
    )
    assert ran.returncode == 0, f"example {number}:\n{code}\n{ran.stderr}"
    assert ran.stdout.strip(), f"example {number} printed nothing"
