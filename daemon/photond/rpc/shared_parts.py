"""A planning call's bytes handed between the daemon and a worker through shared memory.

Both ways a call's bytes are large: in, a 100k-task SubmitJob's body is ~10 MB; out, its
answer is ~23 MB of pickles and wire fragments. Passed as the call's argument or result, the
process pool pickles or unpickles them whole in the daemon, one copy that holds the daemon's
interpreter: 10-12 ms for the answer (measured with a thread sleeping 1 ms: it woke that late;
the bytes land on fresh pages, since photond gives its freed heap back after each plan), and
5.5 ms for the body under perf (benchmarks/loop_stall.py `--perf`), each a control period or
more in which the device loop could not run. Here the bytes go into one shared memory block
and the call carries only the block's name and the parts' sizes. Each side copies in pieces of
at most `PIECE_BYTES`, each a short call: the daemon writes the body in a thread
(`planning_pool.PlanningPool.plan`) and the worker reads it; the worker writes the answer and
the daemon reads it a part at a time in the thread that rebuilds the plan
(`planning_pool._rebuild`). The reader unlinks the block.

A block is registered with multiprocessing's resource tracker, which the daemon and its
workers share: the reader's unlink unregisters it, and if the daemon dies first, the tracker
unlinks what is left. A block nobody will read (its call was cancelled before its plan started,
or its worker died) is unlinked by `discard`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory

# The most one copy into or out of a block moves: ~30-100 µs, page faults included.
PIECE_BYTES = 256 * 1024


@dataclass(frozen=True)
class SharedParts:
    """Where a call's bytes wait: a shared memory block's name, and the parts' sizes in order."""

    name: str
    sizes: tuple[int, ...]


def share(parts: Sequence[bytes]) -> SharedParts:
    """`parts` written end to end into a new shared memory block, a piece at a time, left for
    the other side to read (`opened`) and unlink."""
    sizes = tuple(len(part) for part in parts)
    block = shared_memory.SharedMemory(create=True, size=max(1, sum(sizes)))
    try:
        buffer = block.buf
        assert buffer is not None  # None only once closed
        offset = 0
        for part in parts:
            view = memoryview(part)
            for start in range(0, len(view), PIECE_BYTES):
                piece = view[start : start + PIECE_BYTES]
                buffer[offset : offset + len(piece)] = piece
                offset += len(piece)
            view.release()
    except BaseException:
        block.close()
        block.unlink()
        raise
    block.close()
    return SharedParts(block.name, sizes)


@contextlib.contextmanager
def opened(shared: SharedParts) -> Iterator[Callable[[], bytes]]:
    """A function that returns the next part, a copy, each call; the block is unlinked when
    the block of the `with` ends, read to the end or not."""
    block = shared_memory.SharedMemory(name=shared.name)
    position = {"part": 0, "offset": 0}

    def next_part() -> bytes:
        size = shared.sizes[position["part"]]
        start = position["offset"]
        position["part"] += 1
        position["offset"] = start + size
        buffer = block.buf
        assert buffer is not None  # None only once closed
        pieces = [
            bytes(buffer[at : min(at + PIECE_BYTES, start + size)])
            for at in range(start, start + size, PIECE_BYTES)
        ]
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    try:
        yield next_part
    finally:
        block.close()
        block.unlink()


def discard(shared: SharedParts) -> None:
    """Unlink a block that will not be read (its call has gone), if it is still there."""
    with contextlib.suppress(FileNotFoundError), opened(shared):
        pass
