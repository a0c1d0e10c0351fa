"""A call's bytes cross between the daemon and a planning worker in a shared memory block:
read back part for part, in pieces, and unlinked by the reader or by `discard`."""

from __future__ import annotations

from pathlib import Path

import pytest

from photond.rpc.shared_parts import PIECE_BYTES, discard, opened, share


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
