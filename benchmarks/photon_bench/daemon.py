"""Start a real photond for a benchmark: a subprocess on a Unix socket, answered when it lists
its devices.

One place for what every daemon-driving benchmark needs. The Prometheus endpoint is off: its
default port is fixed, so a benchmark run beside another photond (`make run`, a second
benchmark) would otherwise fail to start.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from photon_sdk import Client, PhotonError


def start_photond(
    state_dir: Path,
    socket_path: Path,
    log_path: Path,
    extra_args: Sequence[str] = (),
    timeout_s: float = 600.0,
    module: Sequence[str] = ("photond",),
) -> subprocess.Popen[bytes]:
    """photond with its state in `state_dir`, listening on `socket_path`, logging to
    `log_path`; returns once it answers (a cold numba compile takes minutes). `module`: what
    `python -m` runs, with its own arguments before photond's (a diagnostic wrapper such as
    `photon_bench.stall_watch OUT`)."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                *module,
                "--listen",
                f"unix:{socket_path}",
                "--state-dir",
                str(state_dir),
                "--metrics-listen",
                "off",
                *extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"photond exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with Client(f"unix:{socket_path}", timeout_s=1.0) as client:
                client.list_devices()
            return process
        except PhotonError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"photond did not answer within {timeout_s:g} s; see {log_path}")
