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

One instant escapes the tracker: a block is registered only once it has been created and
sized, so a SIGKILL in between leaves its name in /dev/shm for good (once in the 200 kills of
`benchmarks/crash_campaign.py` in stop 31). Blocks are therefore named after the daemon they
belong to (`photond_<daemon PID>_<random>`, whichever process made them), and a starting daemon
unlinks the blocks of daemons that are no longer running (`sweep_orphans`). Another live
daemon's blocks are left alone, however old.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path

# The most one copy into or out of a block moves: ~30-100 µs, page faults included.
PIECE_BYTES = 256 * 1024
# A block's name: this prefix, the PID of the daemon it belongs to, "_", a random part.
NAME_PREFIX = "photond_"
# Where Linux keeps POSIX shared memory, by name.
SHM_DIR = Path("/dev/shm")


@dataclass(frozen=True)
class SharedParts:
    """Where a call's bytes wait: a shared memory block's name, and the parts' sizes in order."""

    name: str
    sizes: tuple[int, ...]


def share(parts: Sequence[bytes], daemon_pid: int | None = None) -> SharedParts:
    """`parts` written end to end into a new shared memory block, a piece at a time, left for
    the other side to read (`opened`) and unlink. `daemon_pid`: the daemon the block belongs
    to (default: this process; a planning worker names its daemon)."""
    sizes = tuple(len(part) for part in parts)
    name = f"{NAME_PREFIX}{daemon_pid or os.getpid()}_{secrets.token_hex(8)}"
    block = shared_memory.SharedMemory(name, create=True, size=max(1, sum(sizes)))
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


def sweep_orphans(shm_dir: Path = SHM_DIR) -> list[str]:
    """Unlink the blocks of daemons that no longer run (see the module docstring); returns
    their names. Nothing where there is no `shm_dir` (not Linux)."""
    swept = []
    with contextlib.suppress(FileNotFoundError):
        for path in shm_dir.iterdir():
            if not path.name.startswith(NAME_PREFIX):
                continue
            owner = path.name[len(NAME_PREFIX) :].partition("_")[0]
            if not owner.isdigit() or _running(int(owner)):
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                swept.append(path.name)
    return swept


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True
