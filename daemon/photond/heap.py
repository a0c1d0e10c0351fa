"""The garbage collector kept from pausing the device loop.

CPython's full collection walks every tracked object, holding the interpreter throughout: with
numba's compiled state and one 100k-task job in memory that is ~140 ms (measured), fourteen
control periods in which the device loop cannot run, and building such a job's Python objects
triggered several. Two remedies, both cheap:

- `freeze()` moves every object alive now into the collector's permanent generation, which
  collections skip. The daemon freezes once it has warmed up, and after building each job's
  objects. Frozen objects are still freed by reference counting when their last reference goes;
  only cyclic garbage among them is never collected, a small, bounded cost per job (the
  requests in flight at that moment) that the daemon accepts for a loop that keeps its period.
- `building()` holds collection off while a large structure is built (collection would only
  walk the growing structure again and again), then freezes it.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_builders = 0


def freeze() -> None:
    """Exclude every object alive now from future collections (see the module docstring)."""
    gc.freeze()


@contextlib.contextmanager
def building() -> Iterator[None]:
    """No collection while the block builds; what it built is frozen at the end. Nests and
    may run in several threads at once: collection resumes when the last one ends."""
    global _builders
    with _lock:
        _builders += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _builders -= 1
            if _builders == 0:
                gc.freeze()
                gc.enable()
