"""Which objects outlive a burst of large jobs in photond, and how many pymalloc arenas they pin.

After `startup.py`'s burst (5 jobs of 20,000 tasks submitted, planned and cancelled, the
planning workers gone) the daemon's RSS stays above its idle figure, and pymalloc is most of
it: it keeps a 1 MiB arena while any object in it lives, so the objects allocated during the
burst that outlive it pin arenas full of freed space. This names them.

The daemon runs as `startup.py` starts it, with one addition: a `sitecustomize` module on its
`PYTHONPATH` (written by this script into a temporary directory; photond itself has no such
switch) starts `tracemalloc` first thing (unless `--frames 0`) and answers requests dropped
as files into a directory. A snapshot request writes a tracemalloc snapshot,
`sys._debugmallocstats()` (arena and pool counts; tracemalloc is stopped meanwhile, as
pymalloc prints them only unwrapped), `/proc/self/smaps`, and without tracemalloc the objects
of a megabyte or more with what holds them. The planning workers inherit none of it (the
variables are taken out of the environment before they are spawned).

Steps: idle (workers exited), a snapshot; traces cleared; the burst; the workers' exit waited
for and `--settle-s` more (the daemon's trim runs a second after the jobs end); a snapshot,
then (with `--frames 0`) the release steps of `RELEASES` one after another, each followed by an
arena count: how many arenas each kind of survivor held. With tracemalloc, every trace of the
snapshot after the burst is an allocation made after the clear that still lives: grouped by
traceback, the top `--top` by size and by count are printed. tracemalloc slows the daemon's
allocations (a longer burst, more of the loop's objects made during it), so its figures are
for naming causes; `--frames 0` gives the arena counts of a daemon at full speed, and
`startup.py` the RSS ratio.

Usage: python benchmarks/memory_survivors.py [--frames 12] [--burst 5] [--burst-tasks 20000]
       [--top 20] [--settle-s 10] [--source DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from photond.memory import process_memory
from startup import burst, one_task_plan_s, start, stop, wait_for_worker_exit

_SITECUSTOMIZE = '''
"""Written by benchmarks/memory_survivors.py: tracemalloc in photond, on request."""
import os

_dir = os.environ.pop("PHOTON_BENCH_SURVIVORS_DIR", "")
if _dir:
    import collections
    import gc
    import sys
    import threading
    import time
    import tracemalloc

    _frames = int(os.environ.pop("PHOTON_BENCH_SURVIVORS_FRAMES", "12"))
    if _frames:
        tracemalloc.start(_frames)

    def _answer(name):
        path = os.path.join(_dir, name)
        if name.startswith("clear") and _frames:
            tracemalloc.clear_traces()
        elif name.startswith("snap"):
            # The release steps, each after the ones before (names in `RELEASES`).
            if "unfreeze" in name:  # what gc.freeze kept that a collection would free
                gc.unfreeze()
                gc.collect()
                gc.freeze()
            elif "typecache" in name:  # the attribute names CPython's type cache holds
                sys._clear_type_cache()
            elif "deques" in name:  # long rolling windows of objects (the loop's lateness was one)
                gc.unfreeze()  # get_objects skips frozen objects
                for obj in gc.get_objects():
                    if isinstance(obj, collections.deque) and (obj.maxlen or 0) >= 10_000:
                        obj.clear()
                gc.freeze()
            elif "jobs" in name:  # the finished jobs the retention keeps, and their records
                gc.unfreeze()
                for obj in gc.get_objects():
                    if type(obj).__name__ == "JobBook":
                        obj.prune(0, 0.0, time.time())
                gc.collect()
                gc.freeze()
            elif _frames or "collect" in name:
                gc.collect()  # garbage not yet collected is no survivor
            if _frames:
                tracemalloc.take_snapshot().dump(path + ".snapshot")
                types = collections.Counter()  # of unfrozen objects: get_objects skips frozen
                for obj in gc.get_objects():
                    if tracemalloc.get_object_traceback(obj) is not None:
                        types[type(obj).__qualname__] += 1
                with open(path + ".types", "w") as out:
                    for kind, n in types.most_common(40):
                        out.write(f"{n} {kind}\\n")
                # pymalloc prints its arenas only while no tracer wraps it: stopped for the
                # count, then started again (which clears the traces, as `clear` does).
                tracemalloc.stop()
            with open("/proc/self/smaps") as smaps, open(path + ".smaps", "w") as out:
                out.write(smaps.read())
            if not _frames:  # objects of a megabyte or more, by what holds them
                gc.unfreeze()  # get_objects skips frozen objects
                large = {}
                for holder in gc.get_objects():
                    for obj in gc.get_referents(holder):
                        if not gc.is_tracked(obj) and sys.getsizeof(obj, 0) >= 1 << 20:
                            large.setdefault(id(obj), (obj, []))[1].append(holder)
                gc.freeze()
                with open(path + ".large", "w") as out:
                    for obj, holders in large.values():
                        at = getattr(obj, "__array_interface__", {}).get("data", (0,))[0]
                        kinds = [type(h).__qualname__ for h in holders][:4]
                        keys = [
                            k for h in holders if isinstance(h, dict) for k, v in h.items()
                            if v is obj
                        ][:4]
                        size = sys.getsizeof(obj)
                        name = type(obj).__qualname__
                        out.write(f"{at:x} {size} {name} {kinds} {keys}\\n")
                del large
            saved = os.dup(2)
            with open(path + ".mallocstats", "w") as out:
                sys.stderr.flush()
                os.dup2(out.fileno(), 2)
                try:
                    sys._debugmallocstats()
                finally:
                    os.dup2(saved, 2)
                    os.close(saved)
            if _frames:
                tracemalloc.start(_frames)
        open(path + ".done", "w").close()

    def _watch():
        while True:
            for name in sorted(os.listdir(_dir)):
                if name.endswith(".ask"):
                    os.unlink(os.path.join(_dir, name))
                    _answer(name[: -len(".ask")])
            time.sleep(0.2)

    threading.Thread(target=_watch, name="survivors", daemon=True).start()
'''


# Steps the daemon takes after the burst's snapshot, each after those before it, each followed
# by an arena count: how many arenas each kind of survivor pinned.
RELEASES = {
    "collect": "gc.collect() (cyclic garbage not yet collected)",
    "unfreeze": "gc.unfreeze(), collect, freeze (garbage gc.freeze kept)",
    "typecache": "sys._clear_type_cache() (names CPython's type cache holds)",
    "deques": "deques of maxlen >= 10,000 cleared (the loop's lateness window was one)",
    "jobs": "finished jobs forgotten (JobBook.prune(0, ...): their records)",
}


def ask(trace_dir: Path, name: str, timeout_s: float = 600.0) -> None:
    """Ask the daemon for `name` (clear..., snap...) and wait for its answer."""
    (trace_dir / f"{name}.ask").touch()
    t0 = time.monotonic()
    while not (trace_dir / f"{name}.done").exists():
        if time.monotonic() - t0 > timeout_s:
            raise SystemExit(f"the daemon did not answer {name} in {timeout_s} s")
        time.sleep(0.2)


def arenas(path: Path) -> dict[str, int]:
    """The totals `sys._debugmallocstats` printed (arenas, bytes in used and free blocks)."""
    found = {}
    for key, value in re.findall(r"^# ([a-z ]+?)\s*=\s*([\d,]+)$", path.read_text(), re.M):
        if key.startswith(("arenas", "bytes in")):
            found[key] = int(value.replace(",", ""))
    return found


def size_classes(path: Path) -> dict[int, tuple[int, int, int]]:
    """pymalloc's pools by block size: (pools, blocks in use, blocks free)."""
    rows = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and all(p.isdigit() for p in parts):
            rows[int(parts[1])] = (int(parts[2]), int(parts[3]), int(parts[4]))
    return rows


def where(stat: tracemalloc.Statistic, frames: int) -> str:
    """The traceback's innermost frames inside photond (or the innermost frames at all)."""
    ours = [f for f in stat.traceback if "/photond/" in f.filename or "photon_" in f.filename]
    shown = (ours or list(stat.traceback))[-frames:]
    return " < ".join(f"{f.filename.rpartition('/')[2]}:{f.lineno}" for f in reversed(shown))


def table(stats: list[tracemalloc.Statistic], title: str, top: int) -> list[dict[str, Any]]:
    print(f"\n{title}")
    print(f"{'KiB':>9s} {'count':>8s}  where (innermost first)")
    rows = []
    for stat in stats[:top]:
        print(f"{stat.size / 1024:9.1f} {stat.count:8d}  {where(stat, 3)}")
        rows.append(
            {
                "size_bytes": stat.size,
                "count": stat.count,
                "traceback": [f"{f.filename}:{f.lineno}" for f in stat.traceback],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--burst-tasks", type=int, default=20_000)
    parser.add_argument(
        "--frames",
        type=int,
        default=12,
        help="tracemalloc frames kept; 0: no tracemalloc, arena counts and RSS only",
    )
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--settle-s", type=float, default=10.0)
    parser.add_argument("--planning-idle-exit-s", type=float, default=20.0)
    parser.add_argument("--source", type=Path, help="a checkout whose photond to run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pd-surv-"))
    site = work / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    trace_dir = work / "trace"
    trace_dir.mkdir()
    env = dict(os.environ, PHOTON_BENCH_SURVIVORS_DIR=str(trace_dir))
    env["PHOTON_BENCH_SURVIVORS_FRAMES"] = str(args.frames)
    paths = [str(site)]
    if args.source is not None:
        tree = args.source.resolve()
        paths += [str(tree / part) for part in ("daemon", "drivers", "sdk")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(":")
    extra = ["--planning-idle-exit-s", str(args.planning_idle_exit_s)]
    exit_wait_s = args.planning_idle_exit_s + 300.0
    process, ready_s, target = start(work / "daemon", env, extra)
    try:
        # As startup.py: idle with the workers gone, after a first plan woke them.
        one_task_plan_s(target)
        wait_for_worker_exit(process, exit_wait_s)
        time.sleep(args.settle_s)
        ask(trace_dir, "snap-idle")
        idle_rss = process_memory(process.pid).rss_mb
        ask(trace_dir, "clear")
        submits_s = burst(target, args.burst, args.burst_tasks)
        wait_for_worker_exit(process, exit_wait_s)
        time.sleep(args.settle_s)
        ask(trace_dir, "snap-after")
        after_rss = process_memory(process.pid).rss_mb
        # The same moment after each release step in turn: which survivors pin arenas. Not
        # under tracemalloc: a daemon died in `gc.get_objects()` of unfrozen objects with it on.
        for step in RELEASES if not args.frames else ():
            ask(trace_dir, f"snap-after-{step}")
    finally:
        stop(process)
    idle_arenas = arenas(trace_dir / "snap-idle.mallocstats")
    after_arenas = arenas(trace_dir / "snap-after.mallocstats")
    print(f"daemon ready in {ready_s:.1f} s; burst submits {submits_s:.1f} s (under tracemalloc)")
    print(f"{'':28s} {'idle':>10s} {'after burst':>12s}")
    print(f"{'daemon RSS MB':28s} {idle_rss:10.1f} {after_rss:12.1f}")
    for key in sorted(set(idle_arenas) | set(after_arenas)):
        print(f"{key:28s} {idle_arenas.get(key, 0):10d} {after_arenas.get(key, 0):12d}")
    print("\nafter the burst, then each release step in turn (--frames 0 only):")
    for step, what in RELEASES.items() if not args.frames else ():
        then = arenas(trace_dir / f"snap-after-{step}.mallocstats")
        print(
            f"  {what:58s} {then.get('arenas allocated current', 0):4d} arenas, "
            f"{then.get('bytes in allocated blocks', 0) / 1e6:5.1f} MB in blocks"
        )
    idle_classes = size_classes(trace_dir / "snap-idle.mallocstats")
    after_classes = size_classes(trace_dir / "snap-after.mallocstats")
    print("\npymalloc pools by block size (idle -> after burst), the 12 that grew most:")
    print(f"{'bytes':>6s} {'pools':>13s} {'blocks in use':>17s} {'blocks free':>17s}")
    grown = sorted(
        after_classes,
        key=lambda b: -(after_classes[b][0] - idle_classes.get(b, (0, 0, 0))[0]),
    )
    for size in grown[:12]:
        (p0, u0, f0), (p1, u1, f1) = idle_classes.get(size, (0, 0, 0)), after_classes[size]
        print(f"{size:6d} {p0:6d}>{p1:6d} {u0:8d}>{u1:8d} {f0:8d}>{f1:8d}")
    by_size: list[dict[str, Any]] = []
    by_count: list[dict[str, Any]] = []
    total_bytes = total_count = 0
    if args.frames:
        after = tracemalloc.Snapshot.load(str(trace_dir / "snap-after.snapshot"))
        after = after.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        live = after.statistics("traceback")
        total_bytes = sum(s.size for s in live)
        total_count = sum(s.count for s in live)
        print(
            f"\nallocated during the burst and alive after it: {total_count} blocks, "
            f"{total_bytes / 1e6:.2f} MB"
        )
        by_size = table(live, f"top {args.top} by size", args.top)
        by_count = table(sorted(live, key=lambda s: -s.count), f"top {args.top} by count", args.top)
        print("\nlive objects allocated during the burst, by type (gc-tracked only):")
        print((trace_dir / "snap-after.types").read_text())
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rss_mb": {"idle": idle_rss, "after": after_rss},
                    "arenas": {"idle": idle_arenas, "after": after_arenas},
                    "size_classes": {"idle": idle_classes, "after": after_classes},
                    "live_blocks": total_count,
                    "live_bytes": total_bytes,
                    "by_size": by_size,
                    "by_count": by_count,
                    "args": vars(args),
                },
                default=str,
            )
        )
    print(f"trace files: {trace_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
