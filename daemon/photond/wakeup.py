"""Wake asyncio waiters from the control loop's thread without ever blocking it.

The device loops run in their own threads so that no RPC can delay a dispatch; RPC handlers
run on the asyncio loop. A `Wakeup` is the one crossing point: the loop thread calls `notify()`
(a non-blocking `call_soon_threadsafe` per waiter) and handlers `await wait()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Wakeup:
    """An edge-triggered signal from any thread to any number of asyncio waiters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            # The RPC's loop may be closing during shutdown; the waiter is gone then anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def register(self) -> asyncio.Event:
        """An event set on every notify() until unregister(); call from the asyncio loop."""
        event = asyncio.Event()
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), event))
        return event

    def unregister(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = {w for w in self._waiters if w[1] is not event}
