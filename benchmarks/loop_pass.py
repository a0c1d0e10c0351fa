"""What one pass of the idle device loop costs, by part, and what the simulated chip's plant holds.

photond idles at 100 Hz for months, so its idle CPU is the loop's pass times 100 per second
(docs/operations.md). This builds the daemon's own `DeviceRuntime` on the simulated chip (the
default profile, `make run`'s closed loop, a 10 ms period, a hand-stepped clock so every run
sees the same samples; each step is a period plus a seeded lateness, as at real time) and
times, per pass:

- `read_sensors`: the simulated chip's catch-up and readout (hardware would spend this on its
  link instead);
- `observe`: the observer's update (`loop/observer`), and beside it the observer as it was
  (`photon_bench.reference_observer`) on the same samples;
- `frame + publish + guard`: the telemetry frame, the hub and the interlock;
- `pass`: the whole `_step`, as the loop thread runs it.

Two ways: *paced*, one pass per period with the thread asleep in between, as at real time
(caches go cold meanwhile, which is most of the cost on a busy machine), timed by the thread's
CPU clock; and *back to back*, the same passes in a tight loop (wall clock), the floor. Each
figure is the median over the passes (on a shared machine the mean is mostly other processes'
doing).

`--source DIR` runs the same measurement on another checkout's photond (e.g. a `git worktree`
of the commit before) in a subprocess on the same input, and prints both side by side. The
plant's memory is the Python allocations (tracemalloc) of building the default chip's network.

Usage: python benchmarks/loop_pass.py [--passes 500] [--source DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PERIOD_S = 0.01
# How late a pass starts at real time, at most: each step of the hand-stepped clock is a period
# plus a seeded draw up to this, so that, as at real time, no two steps are the same length
# (the simulated chip's exponentials depend on the step).
LATENESS_S = 2e-4
DEFAULT_JSON = Path(__file__).parent / "results" / "loop_pass.json"


def plant_mb() -> float:
    """MB of Python allocations the default chip's plant network keeps once built."""
    from photon_drivers.plant.chip import chip_network
    from photon_drivers.profile import load_profile

    profile = load_profile()
    chip_network.cache_clear()
    tracemalloc.start()
    chip_network(profile)
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return kept / 1e6


def measure(passes: int) -> dict[str, float]:
    """µs per pass of each part (paced and back to back), and the plant's MB."""
    from photon_bench.reference_observer import ReferenceObserver
    from photon_drivers.clock import ManualClock
    from photon_drivers.sim.driver import SimulatedChipDriver
    from photond.jobs.book import JobBook
    from photond.jobs.journal import Journal
    from photond.loop.control_config import ControlConfig
    from photond.loop.runtime import DeviceRuntime

    figures = {"plant MB": plant_mb()}
    clock = ManualClock()
    lateness = np.random.default_rng(7)

    def period_s() -> float:
        return PERIOD_S + float(lateness.uniform(0.0, LATENESS_S))

    sim = SimulatedChipDriver(None, clock, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "jobs.sqlite3")
        book = JobBook(journal)
        runtime = DeviceRuntime("sim0", sim, book, PERIOD_S, control=ControlConfig())
        reference = ReferenceObserver(sim.profile, PERIOD_S)
        powers = np.zeros(len(runtime.control.heater_ids))
        samples = []

        def read() -> None:
            samples.append(sim.read_sensors())

        def observe() -> None:
            runtime._observe(samples[-1])

        def reference_observe() -> None:
            reference.update(samples[-1], powers)

        def frame() -> None:
            sample = samples[-1]
            runtime.hub.publish(runtime._frame(sample))
            runtime._guard(sample.device_time_s, sample)

        parts: dict[str, Callable[[], Any]] = {
            "read_sensors": read,
            "observe": observe,
            "observe (reference)": reference_observe,
            "frame + publish + guard": frame,
            "pass": runtime._step,
        }
        for _ in range(200):  # settle: the observer's first samples, numpy's first calls
            clock.advance(period_s())
            runtime._step()
        for paced in (False, True):
            spent: dict[str, list[float]] = {name: [] for name in parts}
            now = time.thread_time if paced else time.perf_counter
            for _ in range(passes):
                clock.advance(period_s())
                for name, part in parts.items():
                    if name == "pass":
                        clock.advance(period_s())  # a pass of its own, a period on
                    if paced:
                        time.sleep(PERIOD_S)  # as the loop thread does between passes
                    started = now()
                    part()
                    spent[name].append(now() - started)
            how = "paced" if paced else "back to back"
            for name, times_s in spent.items():
                # The median: on a shared machine the mean is mostly other processes' doing.
                figures[f"{how}: {name} µs"] = 1e6 * float(np.median(times_s))
        journal.close()
    return figures


def run_source(source: Path, passes: int) -> dict[str, float]:
    """`measure` in a subprocess on `source`'s photond and photon_drivers."""
    tree = source.resolve()
    paths = [str(tree / part) for part in ("daemon", "drivers", "sdk")]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(":")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        script = (
            "import json, sys; sys.path.insert(0, sys.argv[1]); import loop_pass; "
            "json.dump(loop_pass.measure(int(sys.argv[2])), open(sys.argv[3], 'w'))"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent), str(passes), str(out)],
            env=env,
            check=True,
        )
        figures: dict[str, float] = json.loads(out.read_text())
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=500)
    parser.add_argument("--source", type=Path, help="another checkout to measure beside this")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    columns: dict[str, dict[str, float]] = {}
    if args.source is not None:
        columns[f"{args.source}"] = run_source(args.source, args.passes)
    columns["this tree"] = measure(args.passes)
    names = list(columns["this tree"])
    print(f"{'figure':44s}" + "".join(f" {name[-20:]:>20s}" for name in columns))
    for name in names:
        cells = [columns[c].get(name, float("nan")) for c in columns]
        print(f"{name:44s}" + "".join(f" {value:20.1f}" for value in cells))
    for column, figures in columns.items():
        percent = figures["paced: pass µs"] * 1e-6 / PERIOD_S * 100
        print(f"{column}: paced passes at 100 Hz are {percent:.2f} % of a core")
    args.json.parent.mkdir(parents=True, exist_ok=True)  # benchmarks/results is not kept in git
    args.json.write_text(
        json.dumps(
            {"passes": args.passes, "period_s": PERIOD_S, "columns": columns},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
