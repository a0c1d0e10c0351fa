"""A finished job's objects freed a slice at a time on a thread of their own, not in one go.

Dropping the last reference to a large container frees everything in it in one cascade of C
deallocations, which holds the interpreter from the first to the last: a 100k-task job's
checked tasks and planned tasks (about a million objects) took 28-30 ms, three control periods
in which the device loop cannot run (measured: a thread sleeping 1 ms woke that late). Where it
happened depended on which holder let go last: the job's finisher thread, the CancelJob
handler on the event loop, or the device loop itself.

`dispose(*containers)` hands containers (lists, dicts, tuples) to the disposer thread, which
first waits until it holds the only reference to each (the caller's locals, the job record, the
execution tables let go of theirs on their own threads, without freeing anything since the
disposer still holds the items), then frees the items `CHUNK_ITEMS` at a time, sleeping
`PAUSE_S` between chunks so that a waiting thread (the device loop) takes the interpreter. A
container someone still holds after `OWNER_WAIT_S` is let go as it is: freed where its last
holder drops it, as before; meanwhile it holds up none of the others.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from typing import Any

log = logging.getLogger("photond.disposal")

# Items freed between two pauses: ~0.3 ms of deallocation for a job's tasks (about ten objects
# each), well inside a 10 ms control period.
CHUNK_ITEMS = 1000
# Long enough for a thread waiting for the interpreter to wake and take it (releasing it for
# no time lets the releasing thread take it straight back).
PAUSE_S = 0.0005
# How long a container may stay shared before it is let go as it is.
OWNER_WAIT_S = 5.0
_OWNER_POLL_S = 0.01
# sys.getrefcount of a container held only by a local variable: the variable and the call's
# argument.
_SOLE_REFS = 2


class Disposer:
    """The thread that frees handed-over containers in chunks (see the module docstring)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Containers handed over and not yet freed or let go (`idle`).
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def start(self) -> None:
        """Start the thread now (made at start-up, not amid a burst of large jobs' objects)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="photond-dispose", daemon=True
                )
                self._thread.start()

    def put(self, containers: list[Any]) -> None:
        self.start()
        with self._lock:
            self._pending += len(containers)
        self._queue.put(containers)

    def idle(self, timeout_s: float) -> bool:
        """Wait until everything handed over so far is freed; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def _run(self) -> None:
        # [deadline, container] for each container handed over and still shared: one still
        # shared does not hold up the others.
        waiting: list[list[Any]] = []
        while True:
            try:
                handed = self._queue.get(timeout=_OWNER_POLL_S if waiting else None)
            except queue.Empty:
                handed = []
            if handed is None:
                return
            deadline_s = time.monotonic() + OWNER_WAIT_S
            waiting.extend([deadline_s, handed.pop()] for _ in range(len(handed)))
            del handed
            waiting = self._free_owned(waiting)

    def _free_owned(self, waiting: list[list[Any]]) -> list[list[Any]]:
        """Free each waiting container held by nobody else, let go of those shared past their
        deadline; returns the others."""
        still: list[list[Any]] = []
        now_s = time.monotonic()
        for entry in waiting:
            # The entry's reference and the call's argument: nobody else's.
            if sys.getrefcount(entry[1]) > _SOLE_REFS and now_s < entry[0]:
                still.append(entry)
                continue
            try:
                _free(entry)
            except Exception:  # a disposer that dies would leave every later job to the caller
                log.exception("freeing a finished job's objects failed")
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
        return still


def _free(entry: list[Any]) -> None:
    """Free the items of the container that ends `entry` (taken out of it) in chunks, if
    nobody else holds it (else it is let go as it is: its last holder frees it)."""
    container = entry.pop()
    if sys.getrefcount(container) > _SOLE_REFS:
        return
    if isinstance(container, dict):
        items: list[Any] = []
        while container:
            # Keys and values both: a task's id is its own string, alive until here.
            items.extend(container.popitem())
            if len(items) >= CHUNK_ITEMS:
                _free_list(items)
    elif isinstance(container, list):
        items = container
    elif isinstance(container, tuple):
        items = list(container)
    else:
        return
    del container  # a tuple goes here, its items still held by `items`
    _free_list(items)


def _free_list(items: list[Any]) -> None:
    while items:
        del items[-CHUNK_ITEMS:]
        pause()


def pause() -> None:
    """Between two chunks: let another thread take the interpreter."""
    time.sleep(PAUSE_S)


_disposer = Disposer()


def start() -> None:
    """Start the disposer thread (photond does it at start-up)."""
    _disposer.start()


def dispose(*containers: Any) -> None:
    """Free `containers` (lists, dicts, tuples; others are ignored) on the disposer thread, a
    chunk of items at a time, once the caller and every other holder has let go of them."""
    handed = [c for c in containers if isinstance(c, list | dict | tuple) and c]
    if handed:
        _disposer.put(handed)


def idle(timeout_s: float = 10.0) -> bool:
    """Wait until everything handed over so far is freed (tests, shutdown); False on timeout."""
    return _disposer.idle(timeout_s)
