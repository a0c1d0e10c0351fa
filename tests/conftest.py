from __future__ import annotations

from collections.abc import Iterator

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon


@pytest.fixture(scope="module")
def daemon() -> Iterator[RunningDaemon]:
    """One photond process per test module, stopped with SIGTERM and required to exit 0."""
    running = start_daemon()
    yield running
    cleanup(running)
