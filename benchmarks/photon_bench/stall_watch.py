"""Find what holds photond's device loop: run photond with a watcher that, whenever a telemetry
frame comes late, writes down what every thread did meanwhile.

    python -m photon_bench.stall_watch OUT.jsonl [photond arguments...]
    python -m photon_bench.stall_watch --summary OUT.jsonl   # late frames by cause

runs photond (its `main`, in this process) with two additions, both diagnostics only:

* a watcher thread that wakes every millisecond and keeps a ring of ticks: when it woke (a
  late wake-up means it could not get the interpreter, or a core), each thread's CPU time and
  time spent runnable but waiting for a core (`/proc/self/task/<tid>/schedstat`: Python's own
  threads, gRPC's and numba's alike, and the planning processes'), and the innermost frames of
  every Python thread that ran since the tick before (so the thread that held the interpreter
  is seen on the tick it lets go of it, its stack still at the call that held it);
* a hook on `TelemetryHub.publish`, which the device loop calls once a pass: when a frame's
  device time is more than `--late-ms` after the one before, the gap's window of the ring
  becomes one JSON line of OUT (see `_report`). Garbage collections are timed too
  (`gc.callbacks`).

Reading a line: `loop.cpu_ms` is the loop thread's own work in the gap, `loop.runnable_ms` its
wait for a core (starved), and the rest of the gap it was blocked: asleep until its tick, or
waiting for the interpreter while `threads` (sorted by CPU) ran; `watcher_max_gap_ms` near the
frame gap means nobody else got the interpreter either (one call held it throughout).
"""

from __future__ import annotations

import collections
import gc
import itertools
import json
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

TICK_S = 0.001
RING_TICKS = 2000  # 2 s of ticks at most: a gap longer than that shows its last 2 s
STACK_FRAMES = 14
CHILDREN_EVERY_TICKS = 500
REPORT_AFTER_S = 0.01


@dataclass
class _Tick:
    at_ns: int
    # tid -> (cpu ns, runnable-wait ns) at this tick, every thread of the daemon and its workers.
    sched: dict[int, tuple[int, int]]
    # Python threads that ran since the last tick: tid -> innermost frames, innermost first.
    stacks: dict[int, list[str]]


@dataclass
class _Watch:
    out: TextIO
    late_s: float
    ring: collections.deque[_Tick] = field(
        default_factory=lambda: collections.deque(maxlen=RING_TICKS)
    )
    names: dict[int, str] = field(default_factory=dict)
    fds: dict[int, int] = field(default_factory=dict)
    gcs: collections.deque[tuple[int, int, int]] = field(
        default_factory=lambda: collections.deque(maxlen=512)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_frame: tuple[int, float] | None = None
    loop_tid: int = 0
    children: list[int] = field(default_factory=list)
    # Late frames to report: (previous frame's time, this frame's time, gap in ms).
    late: collections.deque[tuple[int, int, float]] = field(default_factory=collections.deque)


def _frames(frame: FrameType | None) -> list[str]:
    lines: list[str] = []
    while frame is not None and len(lines) < STACK_FRAMES:
        code = frame.f_code
        path = code.co_filename
        short = "/".join(path.split("/")[-2:])
        lines.append(f"{short}:{frame.f_lineno} {code.co_qualname}")
        frame = frame.f_back
    return lines


def _sched(watch: _Watch) -> dict[int, tuple[int, int]]:
    """CPU and runnable-wait ns of every thread of this process and of its child processes
    (planning workers: keyed by -pid, whole process)."""
    now: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc/self/task"):
        tid = int(entry)
        fd = watch.fds.get(tid)
        if fd is None:
            try:
                fd = os.open(f"/proc/self/task/{tid}/schedstat", os.O_RDONLY)
                with open(f"/proc/self/task/{tid}/comm") as comm:
                    watch.names.setdefault(tid, comm.read().strip())
            except OSError:
                continue
            watch.fds[tid] = fd
        try:
            cpu, wait, _ = os.pread(fd, 128, 0).split()
        except (OSError, ValueError):
            continue
        now[tid] = (int(cpu), int(wait))
    for pid in watch.children:
        key = -pid
        fd = watch.fds.get(key)
        if fd is None:
            try:
                fd = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY)
            except OSError:
                continue
            watch.fds[key] = fd
            watch.names[key] = f"process {pid}"
        try:
            cpu, wait, _ = os.pread(fd, 128, 0).split()
        except (OSError, ValueError):
            continue
        now[key] = (int(cpu), int(wait))
    return now


def _watcher(watch: _Watch) -> None:
    me = threading.get_native_id()
    previous: dict[int, tuple[int, int]] = {}
    ticks = 0
    while True:
        time.sleep(TICK_S)
        at_ns = time.monotonic_ns()
        if ticks % CHILDREN_EVERY_TICKS == 0:
            # Not every tick: it polls each child (waitpid), a few syscalls each.
            watch.children = [c.pid for c in multiprocessing.active_children() if c.pid]
        ticks += 1
        sched = _sched(watch)
        frames = sys._current_frames()
        natives = {t.ident: t.native_id for t in threading.enumerate()}
        for thread in threading.enumerate():
            if thread.name.startswith("device-") and thread.native_id:
                watch.loop_tid = thread.native_id
            if thread.native_id:
                watch.names[thread.native_id] = thread.name
        stacks: dict[int, list[str]] = {}
        for ident, frame in frames.items():
            tid = natives.get(ident)
            if tid is None or tid == me:
                continue
            before = previous.get(tid)
            if before is not None and sched.get(tid, before)[0] > before[0] + 50_000:
                stacks[tid] = _frames(frame)
        with watch.lock:
            watch.ring.append(_Tick(at_ns, sched, stacks))
        previous = sched
        _write_due(watch, at_ns)


def _on_gc(phase: str, info: dict[str, int]) -> None:
    watch = _WATCH
    if watch is None:
        return
    now = time.monotonic_ns()
    if phase == "start":
        _GC_START[threading.get_ident()] = now
    else:
        started = _GC_START.pop(threading.get_ident(), now)
        watch.gcs.append((started, now, info.get("generation", -1)))


def _report(watch: _Watch, start_ns: int, end_ns: int, gap_ms: float) -> dict[str, Any]:
    """One late frame: the ring's ticks between the two frames, summed up."""
    with watch.lock:
        ticks = [t for t in watch.ring if start_ns - 2_000_000 <= t.at_ns <= end_ns + 1_000_000]
        gcs = [g for g in watch.gcs if g[1] >= start_ns and g[0] <= end_ns]
    if len(ticks) < 2:
        return {"gap_ms": gap_ms, "ticks": len(ticks)}
    first, last = ticks[0], ticks[-1]
    span_ms = (last.at_ns - first.at_ns) / 1e6
    threads: list[dict[str, Any]] = []
    for tid, (cpu, wait) in last.sched.items():
        cpu0, wait0 = first.sched.get(tid, (cpu, wait))
        if cpu - cpu0 > 500_000 or wait - wait0 > 2_000_000:
            threads.append(
                {
                    "thread": watch.names.get(tid, str(tid)),
                    "cpu_ms": round((cpu - cpu0) / 1e6, 1),
                    "runnable_ms": round((wait - wait0) / 1e6, 1),
                }
            )
    threads.sort(key=lambda t: -t["cpu_ms"])
    wake_gaps = [(b.at_ns - a.at_ns) / 1e6 for a, b in itertools.pairwise(ticks)]
    # Stacks: per thread, each distinct stack seen in the window with how many ticks showed it;
    # the tick after the watcher's longest wait is marked (its holder let go just then).
    worst = max(range(len(wake_gaps)), key=wake_gaps.__getitem__) + 1
    seen: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for tick in ticks:
        for tid, stack in tick.stacks.items():
            seen[watch.names.get(tid, str(tid))]["\n".join(stack)] += 1
    loop = watch.loop_tid
    loop_cpu = last.sched.get(loop, (0, 0))[0] - first.sched.get(loop, (0, 0))[0]
    loop_wait = last.sched.get(loop, (0, 0))[1] - first.sched.get(loop, (0, 0))[1]
    return {
        "gap_ms": round(gap_ms, 1),
        "at_monotonic_s": round(end_ns / 1e9, 3),
        "window_ms": round(span_ms, 1),
        "watcher_max_gap_ms": round(max(wake_gaps), 1),
        "loop": {"cpu_ms": round(loop_cpu / 1e6, 1), "runnable_ms": round(loop_wait / 1e6, 1)},
        "threads": threads[:8],
        "after_longest_wait": {
            watch.names.get(tid, str(tid)): stack for tid, stack in ticks[worst].stacks.items()
        },
        "stacks": {
            name: [{"ticks": n, "stack": s.split("\n")} for s, n in counter.most_common(4)]
            for name, counter in seen.items()
        },
        "gc": [
            {"ms": round((b - a) / 1e6, 1), "generation": g, "at_ms": round((a - start_ns) / 1e6)}
            for a, b, g in gcs
        ],
    }


def _hook_publish(watch: _Watch) -> None:
    from photond.loop.telemetry import TelemetryHub

    publish = TelemetryHub.publish

    def watched(self: TelemetryHub, frame: Any) -> None:
        now_ns = time.monotonic_ns()
        last = watch.last_frame
        watch.last_frame = (now_ns, frame.device_time_s)
        publish(self, frame)
        if last is not None and frame.device_time_s - last[1] > watch.late_s:
            # Reported by the watcher thread: the loop thread only appends (starting a thread
            # here cost it milliseconds under load, and made the next frame late too).
            watch.late.append((last[0], now_ns, 1e3 * (frame.device_time_s - last[1])))

    TelemetryHub.publish = watched  # type: ignore[method-assign]


def _write_due(watch: _Watch, now_ns: int) -> None:
    """Write the late frames reported at least REPORT_AFTER_S ago: by then the ring holds the
    ticks just after each gap, which show who let go of the interpreter."""
    while watch.late and now_ns - watch.late[0][1] > REPORT_AFTER_S * 1e9:
        start_ns, end_ns, gap_ms = watch.late.popleft()
        line = json.dumps(_report(watch, start_ns, end_ns, gap_ms))
        watch.out.write(line + "\n")
        watch.out.flush()


_WATCH: _Watch | None = None
_GC_START: dict[int, int] = {}


def cause(line: dict[str, Any]) -> str:
    """What mostly made one late frame late (a line of OUT), by the measures the line holds:
    the loop's own work, a held interpreter, or a loop waiting for a core."""
    gap_ms, loop = line["gap_ms"], line.get("loop")
    if loop is None:
        return "unknown (no ticks)"
    if loop["cpu_ms"] >= gap_ms / 3:
        return "the loop's own work"
    if line["watcher_max_gap_ms"] >= gap_ms / 2 and loop["runnable_ms"] < gap_ms / 3:
        return "interpreter held by another thread"
    if loop["runnable_ms"] >= gap_ms / 3:
        return "loop waiting for a core"
    return "other (asleep, or several small causes)"


def summary(path: Path) -> None:
    """Print the late frames of OUT by cause: count, total and largest gap."""
    by_cause: dict[str, list[float]] = collections.defaultdict(list)
    for text in path.read_text(encoding="utf-8").splitlines():
        line = json.loads(text)
        by_cause[cause(line)].append(line["gap_ms"])
    print(f"{'cause':42} {'frames':>7} {'largest gap ms':>15}")
    for name, gaps in sorted(by_cause.items(), key=lambda kv: -max(kv[1])):
        print(f"{name:42} {len(gaps):7d} {max(gaps):15.1f}")


def main() -> int:
    global _WATCH
    if sys.argv[1] == "--summary":
        summary(Path(sys.argv[2]))
        return 0
    out_path = Path(sys.argv[1])
    late_ms = float(os.environ.get("PHOTON_STALL_LATE_MS", "15"))
    watch = _Watch(out_path.open("a", encoding="utf-8"), late_ms / 1e3)
    _WATCH = watch
    gc.callbacks.append(_on_gc)
    _hook_publish(watch)
    threading.Thread(target=_watcher, args=(watch,), name="stall-watch", daemon=True).start()
    from photond.entry import main as photond_main

    return photond_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
