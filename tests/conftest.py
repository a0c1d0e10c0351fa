from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from daemon_process import RunningDaemon, cleanup, start_daemon

# A shell starts a background job (`make test &`) with SIGINT ignored, and an ignored signal
# stays ignored across exec: every photonctl the tests start would then ignore the Ctrl-C the
# tests send it (a watch streamed past its 120 s timeout). A handler in this process is reset to
# the default in each child at exec, so children start as they would from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module")
def daemon() -> Iterator[RunningDaemon]:
    """One photond process per test module, stopped with SIGTERM and required to exit 0."""
    running = start_daemon()
    yield running
    cleanup(running)
