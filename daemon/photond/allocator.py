"""The C allocator the daemon's process runs on: glibc's malloc for every object, so that the
heap a burst of jobs freed can be given back to the OS.

After a burst of large jobs an idle daemon stayed 1.45-1.6 x its idle RSS although the jobs
were gone. CPython's small-object allocator (pymalloc) takes 1 MiB arenas and returns one only
when every object in it is freed; a burst fills a hundred of them with the jobs' graphs and
plans (hundreds of thousands of small objects) between the few objects that outlive it (a job's
events, telemetry figures, gRPC state), which then hold every arena they sit in. Measured in a
daemon after a burst (`sys._debugmallocstats`): 137 arenas (144 MB) held against 52 at idle,
for the same 52.8 MB of live objects. `malloc_trim` (photond.memory) cannot reach them.

With `PYTHONMALLOC=malloc` every object comes from glibc, and the trim returns each whole free
page wherever it sits. Two glibc settings keep what is left small: `MALLOC_ARENA_MAX=2` (one
heap per thread multiplies the holes; the daemon has dozens of threads) and a fixed
`MALLOC_MMAP_THRESHOLD_` of 128 KiB (glibc otherwise raises the threshold after a large block
is freed, and a job's later request bodies and schedules then land in the heap between small
objects instead of in mappings of their own that go back to the OS when freed). Measured
daemon-alone ratio after the same burst: 1.45 (pymalloc), 1.41 (pymalloc, threshold), 1.17
(malloc), 1.10 (malloc, two arenas), 1.07 (malloc, threshold), 1.05 (all three).

These are read when a process starts, so the daemon's process sets them and starts itself
again (`exec`, same PID, before anything but this module is imported), and then takes them out
of its environment again: its planning processes, whose memory goes when they exit, keep
pymalloc (faster for the planner's many small objects). A value the operator set is kept
(`PYTHONMALLOC=pymalloc` keeps CPython's own allocator).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

# What the daemon's process runs with unless the environment says otherwise.
DAEMON_ALLOCATOR = {
    "PYTHONMALLOC": "malloc",
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": "131072",
}
# Set across the exec: the variables photond added, which the new image takes out again.
ADDED_MARKER = "PHOTOND_ALLOCATOR_ADDED"


def started_as_daemon(orig_argv: Sequence[str]) -> bool:
    """Whether this process is the `photond` command or `python [flags] -m photond`."""
    if len(orig_argv) >= 2 and os.path.basename(orig_argv[1]) == "photond":
        return True
    args = iter(orig_argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, "") == "photond"
        if arg in ("-X", "-W"):
            next(args, None)  # the option's value
        elif arg in ("-c", "-") or not arg.startswith("-"):
            return False  # a command, stdin or a script: not photond
    return False


def missing(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings of `DAEMON_ALLOCATOR` that `environ` does not set already."""
    return {name: value for name, value in DAEMON_ALLOCATOR.items() if name not in environ}


def use_daemon_allocator() -> None:
    """Start this process again with `DAEMON_ALLOCATOR` if it is the daemon and runs without
    it; in the process started again, take the added variables out of the environment.
    Call before any other import of photond's (threads must not have started)."""
    added = os.environ.pop(ADDED_MARKER, None)
    if added is not None:
        for name in filter(None, added.split(",")):
            os.environ.pop(name, None)
        return
    if not started_as_daemon(sys.orig_argv):
        return
    settings = missing(os.environ)
    if not settings:
        return
    environ = {**os.environ, **settings, ADDED_MARKER: ",".join(settings)}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)
