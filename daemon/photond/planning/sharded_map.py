"""A read-only mapping kept as many small dicts: a large job's task index, built beside the
device loop without one allocation that holds the interpreter while its pages fault in.

A dict of 100k task ids grows by doubling, and its last growth allocates and clears a ~4 MB
table in one C call. Fresh memory faults in as it is cleared: on the 2-core test machine that
call held the interpreter 5-16 ms (`perf`, benchmarks/loop_stall.py --perf), and the device
loop, waiting for it, missed its period. Spread over `SHARDS` dicts, each growth is a 64th of
that, and the bytecode between insertions lets a waiting thread in.

A lookup costs ~150 ns against a dict's ~40 ns (a Python call, a hash and an index): some
60 µs for the 512 tasks a forecast may look up on the loop's thread (`FORECAST_INLINE_TASKS`),
against the 5-16 ms hold it removes. Iteration follows no insertion order. Pickled, it
is rebuilt from its items (string hashes differ between processes).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")

SHARDS = 64
_MASK = SHARDS - 1


class ShardedMap(Mapping[K, V]):
    __slots__ = ("_len", "shards")

    def __init__(self, items: Iterable[tuple[K, V]] = ()) -> None:
        shards: list[dict[K, V]] = [{} for _ in range(SHARDS)]
        for key, value in items:
            shards[hash(key) & _MASK][key] = value
        # The dicts themselves, for `photond.disposal` to free one at a time.
        self.shards = shards
        self._len = sum(len(shard) for shard in shards)

    def __getitem__(self, key: K) -> V:
        return self.shards[hash(key) & _MASK][key]

    def __contains__(self, key: object) -> bool:
        return key in self.shards[hash(key) & _MASK]

    def __iter__(self) -> Iterator[K]:
        return itertools.chain.from_iterable(self.shards)

    def __len__(self) -> int:
        return self._len

    def __reduce__(self) -> tuple[Any, ...]:
        return (ShardedMap, (list(self.items()),))
