"""What held the device loop: its waits for the interpreter in a `perf` recording, and what
the other threads ran meanwhile.

    perf record -k CLOCK_MONOTONIC -e cpu-clock/freq=999/ -e sched:sched_switch \\
        --call-graph dwarf,8192 -p PID -o OUT.data
    python -m photon_bench.gil_waits OUT.data [--thread device-sim0] [--from S --to S]

(`benchmarks/loop_stall.py --perf OUT.data` records and reads one for you.)

A thread of CPython 3.11 that waits for the interpreter sleeps on a condition variable for the
switch interval (photond sets 1 ms), wakes, asks the holder to let go, and sleeps again: in a
recording, a run of the thread's switches out in state S about one interval apart. A holder
lets go at its next bytecode boundary, so a run longer than a few intervals is one C call
holding the interpreter (an unpickling, a copy of a large block and the page faults on its
fresh pages, a dict's resize...), and the holder's samples in that time name it. Measured
this way, not inside the daemon: a watcher thread in the process changes what it measures
(docs/operations.md, "The frame gaps of a 100k-task submit").

Needs `perf` (Debian's linux-perf) and `kernel.perf_event_paranoid` ≤ 1, or root.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# Switches out this far apart are one wait for the interpreter (the interval is 1 ms; a
# woken thread that finds it still held goes back to sleep within microseconds).
WAIT_SPACING_S = (0.0008, 0.0016)
# Runs of fewer switches are ordinary hand-overs.
MIN_SWITCHES = 5
# Frames of a holder's stack shown, innermost first.
FRAMES = 6

_HEADER = re.compile(
    r"^\s*(?P<comm>.+?)\s+(?P<tid>\d+)\s+(?P<time>\d+\.\d+):\s+(?P<event>\S+):(?:\s|$)"
)


@dataclass
class Sample:
    """One event of the recording."""

    time_s: float
    tid: int
    comm: str
    event: str
    text: str
    stack: list[str] = field(default_factory=list)


@dataclass
class Wait:
    """A run of the thread's waits for the interpreter, and who ran meanwhile."""

    from_s: float
    to_s: float
    # (samples, tid, comm, innermost frames) of the other threads, most samples first.
    holders: list[tuple[int, int, str, str]]

    @property
    def length_ms(self) -> float:
        return 1e3 * (self.to_s - self.from_s)


def read(data: Path, from_s: float | None = None, to_s: float | None = None) -> list[Sample]:
    """The recording's events (between two times of its clock, when given)."""
    command = ["perf", "script", "-i", str(data), "-F", "comm,tid,time,event,trace,ip,sym,dso"]
    if from_s is not None or to_s is not None:
        # perf reads a time of at most six decimals (microseconds).
        command += ["--time", ",".join("" if t is None else f"{t:.6f}" for t in (from_s, to_s))]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse(out)


def parse(text: str) -> list[Sample]:
    """Events of `perf script` output: a header line each, then its call stack."""
    samples: list[Sample] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        header = _HEADER.match(lines[0])
        if header is None:
            continue
        samples.append(
            Sample(
                float(header["time"]),
                int(header["tid"]),
                header["comm"].strip(),
                header["event"],
                lines[0][header.end() :].strip(),
                [_frame(line) for line in lines[1:]],
            )
        )
    return samples


def _frame(line: str) -> str:
    """`ffff8123 clear_page_erms ([kernel.kallsyms])` -> `clear_page_erms (kernel.kallsyms)`."""
    _, _, rest = line.strip().partition(" ")
    return rest.replace("[", "").replace("]", "")


def waits(samples: Iterable[Sample], thread: str) -> list[Wait]:
    """The runs of thread `thread`'s (by name) waits for the interpreter, in order."""
    samples = list(samples)
    switches = [
        s
        for s in samples
        if s.comm == thread and s.event == "sched:sched_switch" and "prev_state=S" in s.text
    ]
    runs: list[list[float]] = []
    for switch in switches:
        spacing = switch.time_s - runs[-1][-1] if runs else 0.0
        if runs and WAIT_SPACING_S[0] <= spacing <= WAIT_SPACING_S[1]:
            runs[-1].append(switch.time_s)
        else:
            runs.append([switch.time_s])
    found = []
    for run in runs:
        if len(run) < MIN_SWITCHES:
            continue
        from_s, to_s = run[0], run[-1]
        counts: collections.Counter[tuple[int, str, str]] = collections.Counter()
        for s in samples:
            # The holder took the interpreter up to an interval before the first wake-up.
            held = from_s - WAIT_SPACING_S[1] <= s.time_s <= to_s
            if held and s.event.startswith("cpu-clock") and s.comm != thread:
                user = [f for f in s.stack if "kernel.kallsyms" not in f] or s.stack
                counts[(s.tid, s.comm, " < ".join(user[:FRAMES]))] += 1
        holders = [(n, tid, comm, frames) for (tid, comm, frames), n in counts.most_common()]
        found.append(Wait(from_s, to_s, holders))
    return found


def report(found: list[Wait], min_ms: float = 0.0, holders: int = 3) -> str:
    lines = []
    for wait in found:
        if wait.length_ms < min_ms:
            continue
        lines.append(f"{wait.from_s:.4f}-{wait.to_s:.4f}: waited {wait.length_ms:.1f} ms")
        for n, tid, comm, frames in wait.holders[:holders]:
            lines.append(f"    {n:3d} samples, thread {tid} ({comm}): {frames}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--thread", default="device-sim0", help="the waiting thread's name")
    parser.add_argument("--from", dest="from_s", type=float, help="recording time, seconds")
    parser.add_argument("--to", dest="to_s", type=float)
    parser.add_argument("--min-ms", type=float, default=3.0)
    args = parser.parse_args()
    found = waits(read(args.data, args.from_s, args.to_s), args.thread)
    print(report(found, args.min_ms) or f"no wait of {args.min_ms:g} ms or more")


if __name__ == "__main__":
    main()
