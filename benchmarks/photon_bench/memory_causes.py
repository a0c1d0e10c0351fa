"""What an idle photond's memory is made of, step by step in one fresh process.

`python -m photon_bench.memory_causes` imports what the daemon imports, group by group, then
opens the default simulated chip and takes a first sample (its plant), then loads the device
loop's kernels and models and gives freed heap and numba's compiler back, as the daemon does,
and prints, as JSON, the process's resident and anonymous MB after each step and what the
step added. The daemon's own idle figure minus the last row is what running adds: the device
loop and its telemetry history, the gRPC server's threads, the journal, the planning pool's
bookkeeping, the glibc arenas of all of those threads (benchmarks/startup.py prints both).

A step's figure is what it adds in this order: numpy's pages, for one, are counted under
numpy and not again under numba or scipy.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from photond.memory import page_out_compiler, process_memory, trim


def _resident_mb() -> tuple[float, float]:
    """(RSS, anonymous) MB of this process (`photond.memory` imports neither numba nor numpy)."""
    memory = process_memory()
    return memory.rss_mb, memory.anonymous_mb


def _imports(*names: str) -> Callable[[], None]:
    def load() -> None:
        for name in names:
            __import__(name)

    return load


def _sim_and_kernels() -> tuple[Callable[[], None], Callable[[], None]]:
    held: list[tuple[Any, float]] = []

    def plant() -> None:
        from photon_drivers.clock import ScaledClock
        from photon_drivers.registry import open_or_defer
        from photond.config import load_config

        config = load_config(None, {}, {"state_dir": Path(tempfile.mkdtemp())})
        device = config.devices[0]
        driver, _ = open_or_defer(device.driver, dict(device.options), ScaledClock(1.0))
        driver.read_sensors()  # the first sample, as the daemon takes before READY
        held.append((driver, config.control_period_s))

    def kernels() -> None:
        # What a device loop loads as it is built in closed mode (`ClosedLoop`): the
        # observer's kernel, then the re-time's, the forecast's and a job's tables'. The
        # planner's are the planning processes'.
        from photond.loop.closed_loop import warm_up_loop
        from photond.loop.control_config import ControlConfig
        from photond.loop.observer import Observer

        driver, period_s = held[0]
        observer = Observer(driver.profile, period_s, ControlConfig().observer)
        warm_up_loop(driver.profile, observer)
        held.append((observer, period_s))

    return plant, kernels


def steps() -> list[tuple[str, Callable[[], None]]]:
    plant, kernels = _sim_and_kernels()
    return [
        ("numpy", _imports("numpy")),
        ("grpc, the protos", _imports("grpc", "grpc.aio", "photon.v1.job_pb2")),
        (
            "OpenTelemetry",
            _imports(
                "opentelemetry.sdk.metrics",
                "opentelemetry.sdk.trace",
                "opentelemetry.instrumentation.grpc",
                "opentelemetry.exporter.prometheus",
            ),
        ),
        ("numba (llvmlite)", _imports("numba")),
        ("scipy.sparse, scipy.linalg", _imports("scipy.sparse.linalg", "scipy.linalg")),
        ("photond's own modules", _imports("photond.service.lifecycle", "photond.cli")),
        ("the simulated chip (plant)", plant),
        ("kernels loaded, device models", kernels),
        # As the daemon does before READY (photond.rpc.server), and again once the planning
        # processes have exited (numba's compiler is then the daemon's alone).
        ("freed heap and numba's compiler given back", _trim),
    ]


def _trim() -> None:
    trim()
    page_out_compiler()


def main() -> None:
    rss_mb, anonymous_mb = _resident_mb()
    rows: list[dict[str, object]] = [
        {"step": "interpreter", "rss_mb": rss_mb, "anonymous_mb": anonymous_mb}
    ]
    for name, run in steps():
        run()
        now_rss_mb, now_anonymous_mb = _resident_mb()
        rows.append(
            {
                "step": name,
                "rss_mb": now_rss_mb,
                "anonymous_mb": now_anonymous_mb,
                "added_rss_mb": now_rss_mb - rss_mb,
                "added_anonymous_mb": now_anonymous_mb - anonymous_mb,
            }
        )
        rss_mb, anonymous_mb = now_rss_mb, now_anonymous_mb
    json.dump(rows, sys.stdout)


if __name__ == "__main__":
    main()
