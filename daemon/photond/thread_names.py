"""The names the kernel shows for photond's threads (`top -H`, `ps -L`, `perf`, py-spy,
/proc/PID/task/TID/comm).

Python 3.11 names only its own thread objects: to the kernel every thread of the daemon is
"python3.11", and a profile of a stalled device loop cannot say which thread is the loop. The
threads an operator or a profile needs to tell apart name themselves: each device loop
(`device-<id>`) and the journal's writer.
"""

from __future__ import annotations

import contextlib
import threading

# The kernel keeps this many bytes of a thread's name.
COMM_BYTES = 15


def name_this_thread(name: str) -> None:
    """Give the calling thread `name` (its first `COMM_BYTES` bytes) in the kernel's view;
    nothing where there is no /proc to say it to (not Linux)."""
    path = f"/proc/self/task/{threading.get_native_id()}/comm"
    with contextlib.suppress(OSError), open(path, "wb") as comm:
        comm.write(name.encode()[:COMM_BYTES])


def thread_name(native_id: int) -> str:
    """The kernel's name of this process's thread `native_id` ("" where it cannot tell)."""
    try:
        with open(f"/proc/self/task/{native_id}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""
