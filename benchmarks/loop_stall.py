"""Does the control loop keep its period while clients submit large jobs?

A real photond runs as a subprocess at real time. A probe process (not this one, so the
submitter's own work cannot delay its readings) subscribes to telemetry at the control period
and calls GetDeviceState every 10 ms. The script then runs scenarios one after another:

* idle: nothing else happens;
* one large submit: a SubmitJob of `--tasks` tasks (default 100,000), measured from the call
  until `--settle-s` after its answer, which covers the job starting on the device;
* cancelling that job while it runs: CancelJob answers the whole job (`answer s` is its
  call);
* the same large submit and cancel asking for the basic view (`JobView.BASIC`): the answers
  leave out the tasks of the graph and schedule, which gRPC otherwise copies (~10 MB, holding
  the interpreter);
* concurrent submits: `--clients` SubmitJobs of 2,000 tasks at once (RESOURCE_EXHAUSTED
  answers are counted; the daemon bounds its planning queue).

Per scenario: the largest gap between consecutive telemetry frames (the loop stamps each frame
with its device time, so a gap is a loop pass that came late), how many gaps exceeded 2, 5, 10
and 50 control periods, and GetDeviceState latency percentiles. Beside the largest gap, "probe
stall": the longest the probe's own pacing thread (sleeping `PACE_S` at a time) overslept while
that gap's frames arrived. The probe is another process, so a stall as long as the gap means
the machine ran neither (a 2-core VM under load does that), not that photond held its loop.
Targets (issue "Robustness"): during the 100k-task submit, largest frame gap ≤ 2 control
periods and GetDeviceState p99 ≤ 20 ms.

Machine load, repeatable: `--load N` starts N busy-loop processes (`while True: pass`, at
nice 0 like photond) once the daemon is ready and ends them after the last scenario, so a
loaded run is the same load whatever else the machine does; the 1-minute load average at the
end of each scenario is printed beside it (it includes whatever else ran).

    .venv/bin/python benchmarks/loop_stall.py [--tasks 100000] [--clients 50] [--load N]
        [--json OUT.json] [--diagnose OUT.jsonl] [--perf OUT.data]

`--perf OUT.data` records the daemon with `perf` throughout (scheduler switches and CPU samples
with call stacks) and, after the table, lists for each scenario's largest gap the device loop's
waits for the interpreter and what held it (`photon_bench.gil_waits`). perf costs the daemon
time of its own: figures taken with it are for finding causes, not for the targets.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from photon_bench import gil_waits
from photon_bench.daemon import start_photond
from photon_sdk import (
    Client,
    DeadlineExceeded,
    JobView,
    PhotonError,
    ResourceExhausted,
    TaskGraph,
)

PERIOD_S = 0.01
POLL_S = 0.01
PACE_S = 0.005
# Gap classes counted per scenario, in control periods (2: the target).
LATE_PERIODS = (2, 5, 10, 50)
BUSY_LOOP = "while True: pass"


def start(
    state_dir: Path, socket_path: Path, log_path: Path, diagnose: Path | None = None
) -> subprocess.Popen[bytes]:
    if diagnose is None:
        return start_photond(state_dir, socket_path, log_path)
    # Under the watcher: every late frame becomes a line of `diagnose` (photon_bench.stall_watch).
    module = ("photon_bench.stall_watch", str(diagnose.resolve()))
    return start_photond(state_dir, socket_path, log_path, module=module)


def probe(target: str, pipe: Connection) -> None:
    """Child process: record frame times and GetDeviceState latencies until told to stop.

    The parent sends a scenario name to start a window and "stop" to end the probe; each
    window's readings go back when the next command arrives.
    """
    frames: list[tuple[float, float]] = []
    latencies: list[tuple[float, float]] = []
    stalls: list[tuple[float, float]] = []  # (woke, overslept s) of the pacing thread
    done = threading.Event()

    def subscribe() -> None:
        with Client(target, timeout_s=24 * 3600.0) as client:
            stream = client.subscribe(sample_interval_s=PERIOD_S)
            for frame in stream:
                frames.append((time.monotonic(), frame.device_time_s))
                if done.is_set():
                    stream.close()
                    return

    def poll() -> None:
        with Client(target, timeout_s=5.0) as client:
            while not done.is_set():
                t0 = time.perf_counter()
                # A deadline is counted at the deadline: the answer was at least that late.
                with contextlib.suppress(DeadlineExceeded):
                    client.get_device_state("sim0")
                latencies.append((time.monotonic(), time.perf_counter() - t0))
                time.sleep(POLL_S)

    def pace() -> None:
        while not done.is_set():
            slept = time.monotonic()
            time.sleep(PACE_S)
            woke = time.monotonic()
            stalls.append((woke, woke - slept - PACE_S))

    threads = [threading.Thread(target=f) for f in (subscribe, poll, pace)]
    for thread in threads:
        thread.start()
    while True:
        command = pipe.recv()
        if command == "stop":
            done.set()
            break
        start_s, end_s = command
        pipe.send(window(frames, latencies, start_s, end_s, stalls))
    for thread in threads:
        thread.join(10)


def window(
    frames: list[tuple[float, float]],
    latencies: list[tuple[float, float]],
    start_s: float,
    end_s: float,
    stalls: list[tuple[float, float]],
) -> dict[str, float]:
    """Figures for the readings between two monotonic instants of the probe's host."""
    # A frame's gap is measured in the device time the loop stamped on it, between frames that
    # arrived in the window (the first one's predecessor included).
    arrived = [i for i, (t, _) in enumerate(frames) if start_s <= t <= end_s]
    first = max(0, arrived[0] - 1) if arrived else 0
    times = [d for _, d in frames[first : arrived[-1] + 1]] if arrived else []
    gaps = [b - a for a, b in itertools.pairwise(times)]
    probe_stall_s = float("nan")
    gap_from_s = gap_to_s = float("nan")
    if gaps:
        worst = first + max(range(len(gaps)), key=gaps.__getitem__)
        since_s, until_s = frames[worst][0], frames[worst + 1][0]
        gap_from_s, gap_to_s = since_s, until_s
        probe_stall_s = max(
            (late for woke, late in stalls if since_s <= woke <= until_s + PACE_S), default=0.0
        )
    lat_ms = sorted(1e3 * dt for t, dt in latencies if start_s <= t <= end_s)
    late = {
        f"gaps_over_{n}_periods": float(sum(g > (n + 0.5) * PERIOD_S for g in gaps))
        for n in LATE_PERIODS
    }

    def pct(q: float) -> float:
        return lat_ms[min(len(lat_ms) - 1, int(q * len(lat_ms)))] if lat_ms else float("nan")

    return {
        "frames": float(len(times)),
        "max_frame_gap_ms": 1e3 * max(gaps, default=float("nan")),
        "probe_stall_at_max_gap_ms": 1e3 * probe_stall_s,
        # When the largest gap's two frames reached the probe (host monotonic clock, as
        # `perf record -k CLOCK_MONOTONIC` stamps its samples): where to look in a trace.
        "max_gap_from_monotonic_s": gap_from_s,
        "max_gap_to_monotonic_s": gap_to_s,
        "state_calls": float(len(lat_ms)),
        "state_p50_ms": pct(0.5),
        "state_p99_ms": pct(0.99),
        "state_max_ms": lat_ms[-1] if lat_ms else float("nan"),
    } | late


def graph(tasks: int, prefix: str = "t") -> TaskGraph:
    """`tasks` short zone-0 tasks at 10 mW per heater; every 5th follows the one 7 before."""
    g = TaskGraph(name=f"{tasks}-task stall probe")
    for i in range(tasks):
        deps = [f"{prefix}{i - 7}"] if i >= 7 and i % 5 == 0 else []
        g.add_task(
            f"{prefix}{i}",
            duration_s=0.01,
            heater_power_mw={"h00": 10.0},
            depends_on=deps,
        )
    return g


def busy_processes(n: int) -> list[subprocess.Popen[bytes]]:
    """`n` processes that each keep a core busy (the documented load of `--load`)."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(n)]


class Session:
    """The probe process and its command pipe: one measurement window at a time."""

    def __init__(self, target: str) -> None:
        self._pipe, child = mp.Pipe()
        self._process = mp.get_context("spawn").Process(target=probe, args=(target, child))
        self._process.start()

    def measure(self, start_s: float, end_s: float) -> dict[str, float]:
        self._pipe.send((start_s, end_s))
        result: dict[str, float] = self._pipe.recv()
        # The window on the host's monotonic clock, which --diagnose's lines are stamped with;
        # the machine's load at its end.
        load = os.getloadavg()[0]
        return result | {"from_monotonic_s": start_s, "to_monotonic_s": end_s, "load_1m": load}

    def close(self) -> None:
        self._pipe.send("stop")
        self._process.join(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="N busy-loop processes run beside photond during the scenarios",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--perf", type=Path, metavar="OUT.data", help="record with perf")
    parser.add_argument(
        "--diagnose",
        type=Path,
        metavar="OUT.jsonl",
        help="run photond under photon_bench.stall_watch: what every thread did in each late "
        "frame's gap, a JSON line each (the watcher's own work perturbs the figures)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pd-stall-"))
    socket_path = work / "p.sock"
    target = f"unix:{socket_path}"
    process = start(work / "state", socket_path, work / "photond.log", args.diagnose)
    recorder = record(process.pid, args.perf) if args.perf else None
    big = graph(args.tasks)
    small = [graph(2_000, prefix=f"c{k}_") for k in range(args.clients)]
    rows: dict[str, dict[str, Any]] = {}
    load: list[subprocess.Popen[bytes]] = []
    try:
        load = busy_processes(args.load)
        with Client(target, timeout_s=600.0) as client:
            # Warm the planner on a small job so the scenarios time planning, not compiling.
            client.wait_job(client.submit_job(graph(50)).id)
            session = Session(target)
            time.sleep(3.0)
            t0 = time.monotonic()
            time.sleep(5.0)
            rows["idle 5 s"] = session.measure(t0, time.monotonic())

            # The large submit twice: answered whole (the graph and schedule it holds), then
            # as the basic view (JobView.BASIC: without the tasks), each cancelled the same way.
            for view, suffix in ((JobView.FULL, ""), (JobView.BASIC, ", basic view")):
                t0 = time.monotonic()
                job = client.submit_job(big, view=view)
                t1 = time.monotonic()
                time.sleep(args.settle_s)
                name = f"submit {args.tasks} tasks{suffix}"
                rows[name] = session.measure(t0, t1) | {"submit_s": t1 - t0}
                rows[f"{name}: job starts"] = session.measure(t1, time.monotonic())
                t0 = time.monotonic()
                client.cancel_job(job.id, view=view)
                t1 = time.monotonic()
                time.sleep(0.5)
                rows[f"{name}: cancel"] = session.measure(t0, time.monotonic()) | {
                    "submit_s": t1 - t0
                }

            t0 = time.monotonic()
            refused = 0

            def submit(g: TaskGraph) -> str:
                nonlocal refused
                try:
                    return client.submit_job(g).id
                except ResourceExhausted:
                    refused += 1
                    return ""

            with ThreadPoolExecutor(args.clients) as pool:
                ids = [i for i in pool.map(submit, small) if i]
            t1 = time.monotonic()
            time.sleep(args.settle_s)
            name = f"{args.clients} x 2000 tasks"
            rows[name] = session.measure(t0, t1) | {"submit_s": t1 - t0, "refused": refused}
            rows[f"{name}: first starts"] = session.measure(t1, time.monotonic())
            for job_id in ids:
                with contextlib.suppress(PhotonError):
                    client.cancel_job(job_id)
            session.close()
    finally:
        for busy in load:
            busy.kill()
            busy.wait()
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(120)
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    print(
        f"control period {1e3 * PERIOD_S:g} ms; target: frame gap ≤ 20 ms, state p99 ≤ 20 ms; "
        f"{args.load} busy-loop processes; gaps > n periods counted"
    )
    header = (
        "scenario",
        "max gap ms",
        "probe stall",
        *(f"gaps>{n}" for n in LATE_PERIODS),
        "state p50",
        "p99",
        "max",
        "calls",
        "answer s",
        "refused",
        "load 1m",
    )
    print("  ".join(f"{h:>12}" for h in header))
    for name, row in rows.items():
        cells = [
            name,
            f"{row['max_frame_gap_ms']:.1f}",
            f"{row['probe_stall_at_max_gap_ms']:.1f}",
            *(f"{row[f'gaps_over_{n}_periods']:.0f}" for n in LATE_PERIODS),
            f"{row['state_p50_ms']:.1f}",
            f"{row['state_p99_ms']:.1f}",
            f"{row['state_max_ms']:.1f}",
            f"{row['state_calls']:.0f}",
            f"{row.get('submit_s', float('nan')):.2f}",
            f"{row.get('refused', 0)}",
            f"{row['load_1m']:.1f}",
        ]
        print("  ".join(f"{c:>12}" for c in cells))
    if args.json:
        figures = {"busy_processes": args.load, "scenarios": rows}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.perf:
        print_waits(args.perf, rows)


def record(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """`perf record` of process `pid` into `out`, on the host's monotonic clock (the probe's)."""
    events = ["-e", "cpu-clock/freq=999/", "-e", "sched:sched_switch"]
    command = ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", *events]
    command += ["--call-graph", "dwarf,8192", "-p", str(pid), "-o", str(out)]
    try:
        recorder = subprocess.Popen(command)
    except FileNotFoundError:
        raise SystemExit("--perf needs perf (Debian: linux-perf)") from None
    time.sleep(1.0)  # perf attaches to each thread before the scenarios begin
    if recorder.poll() is not None:
        raise SystemExit(f"perf record exited with {recorder.returncode}")
    return recorder


def print_waits(data: Path, rows: dict[str, dict[str, Any]]) -> None:
    """The device loop's waits for the interpreter of 3 ms or more in each scenario's largest
    gap (from a period before the gap began to the late frame's arrival)."""
    for name, row in rows.items():
        to_s = row["max_gap_to_monotonic_s"]
        from_s = to_s - 1e-3 * row["max_frame_gap_ms"] - PERIOD_S
        found = gil_waits.waits(gil_waits.read(data, from_s, to_s), "device-sim0")
        print(f"\n{name}: largest gap {row['max_frame_gap_ms']:.1f} ms, {from_s:.3f}-{to_s:.3f} s")
        print(
            gil_waits.report(found, min_ms=3.0) or "  no wait for the interpreter of 3 ms or more"
        )


if __name__ == "__main__":
    main()
