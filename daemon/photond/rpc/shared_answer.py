"""A planning worker's answer handed to the daemon through shared memory, read a part at a time.

The answer to a 100k-task SubmitJob is ~23 MB of pickles and wire fragments. Returned as the
result of the worker's call, it was unpickled whole by the process pool's manager thread in
one call, which held the daemon's interpreter 10-12 ms (measured with a thread sleeping 1 ms:
it woke that late; the bytes land on fresh pages, since photond gives its freed heap back after
each plan), a control period in which the device loop could not run. Here the worker writes
the parts into one shared memory block and its call returns only the block's name and the
parts' sizes; the daemon copies the parts out one at a time in the thread that rebuilds the
plan (`planning_pool._rebuild`), each copy a short call, and unlinks the block.

The block is created in the worker and registered with multiprocessing's resource tracker,
which the daemon and its workers share: the daemon's unlink unregisters it, and if the daemon
dies first, the tracker unlinks what is left. An answer nobody reads (its call was cancelled
while the plan ran) is unlinked by `discard`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory


@dataclass(frozen=True)
class SharedParts:
    """Where a worker left its answer's parts: a shared memory block's name, and their sizes
    in order."""

    name: str
    sizes: tuple[int, ...]


def share(parts: Sequence[bytes]) -> SharedParts:
    """In the worker: `parts` written end to end into a new shared memory block, left for
    the daemon to read (`opened`) and unlink."""
    sizes = tuple(len(part) for part in parts)
    block = shared_memory.SharedMemory(create=True, size=max(1, sum(sizes)))
    try:
        buffer = block.buf
        assert buffer is not None  # None only once closed
        offset = 0
        for part in parts:
            buffer[offset : offset + len(part)] = part
            offset += len(part)
    except BaseException:
        block.close()
        block.unlink()
        raise
    block.close()
    return SharedParts(block.name, sizes)


@contextlib.contextmanager
def opened(shared: SharedParts) -> Iterator[Callable[[], bytes]]:
    """In the daemon: a function that returns the next part, a copy, each call; the block is
    unlinked when the block of the `with` ends, read to the end or not."""
    block = shared_memory.SharedMemory(name=shared.name)
    position = {"part": 0, "offset": 0}

    def next_part() -> bytes:
        size = shared.sizes[position["part"]]
        start = position["offset"]
        position["part"] += 1
        position["offset"] = start + size
        buffer = block.buf
        assert buffer is not None  # None only once closed
        return bytes(buffer[start : start + size])

    try:
        yield next_part
    finally:
        block.close()
        block.unlink()


def discard(shared: SharedParts) -> None:
    """Unlink an answer that will not be read (its call has gone)."""
    with contextlib.suppress(FileNotFoundError), opened(shared):
        pass
