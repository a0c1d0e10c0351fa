"""A call's bytes cross between the daemon and a planning worker in a shared memory block:
read back part for part, in pieces, and unlinked by the reader or by `discard`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from photond.rpc.shared_parts import PIECE_BYTES, discard, opened, share, sweep_orphans


def block_path(name: str) -> Path:
    return Path("/dev/shm") / name.lstrip("/")


def test_parts_come_back_as_written_and_the_reader_unlinks_the_block() -> None:
    parts = [b"", b"x", bytes(range(256)) * (PIECE_BYTES // 256) + b"tail", b"y" * 3 * PIECE_BYTES]
    shared = share(parts)
    assert shared.sizes == tuple(len(p) for p in parts)
    assert block_path(shared.name).exists()
    with opened(shared) as next_part:
        assert [next_part() for _ in parts] == parts
    assert not block_path(shared.name).exists()


def test_a_block_nobody_reads_is_discarded_and_discarding_it_twice_is_harmless() -> None:
    shared = share([b"body"])
    discard(shared)
    assert not block_path(shared.name).exists()
    discard(shared)
    with pytest.raises(FileNotFoundError), opened(shared):
        pass


def ended_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_block_is_named_after_the_daemon_it_belongs_to() -> None:
    mine = share([b"body"])
    workers = share([b"answer"], daemon_pid=4242)
    try:
        assert mine.name.startswith(f"photond_{os.getpid()}_")
        assert workers.name.startswith("photond_4242_")
    finally:
        discard(mine)
        discard(workers)


def test_the_sweep_unlinks_the_blocks_of_stopped_daemons_and_nothing_else(
    tmp_path: Path,
) -> None:
    stopped, running = ended_pid(), os.getpid()
    names = [
        f"photond_{stopped}_00ff",
        f"photond_{running}_00ff",
        "psm_1234abcd",  # multiprocessing's own naming: not photond's to judge
        "photond_notapid_00ff",
        "photond_",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert sweep_orphans(tmp_path) == [f"photond_{stopped}_00ff"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


def test_the_sweep_of_a_machine_without_shared_memory_finds_nothing(tmp_path: Path) -> None:
    assert sweep_orphans(tmp_path / "absent") == []
