"""ShardedMap (`photond.planning.sharded_map`): a dict's answers, kept in small dicts so that
building a 100k-entry index never grows one table of megabytes."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from photond.planning.sharded_map import SHARDS, ShardedMap


@given(st.lists(st.tuples(st.text(max_size=8), st.integers())))
def test_it_answers_as_a_dict_of_the_same_items(items: list[tuple[str, int]]) -> None:
    expected = dict(items)  # a key given twice keeps its last value, as in a dict
    mapped = ShardedMap(items)
    assert mapped == expected
    assert len(mapped) == len(expected)
    assert sorted(mapped) == sorted(expected)
    for key, value in expected.items():
        assert key in mapped and mapped[key] == value
    assert "\x00absent" not in mapped or "\x00absent" in expected
    assert pickle.loads(pickle.dumps(mapped)) == expected


def test_a_missing_key_raises_key_error() -> None:
    mapped = ShardedMap([("a", 1)])
    assert mapped.get("b") is None
    try:
        mapped["b"]
    except KeyError:
        pass
    else:
        raise AssertionError("no KeyError")


def test_a_large_index_is_spread_so_no_table_is_large() -> None:
    # A 100k-entry dict's last growth makes a ~4 MB table in one call (the device loop waited
    # 5-16 ms on it); here each table holds a few thousand entries.
    mapped = ShardedMap((f"task-{i}", i) for i in range(100_000))
    sizes = [len(shard) for shard in mapped.shards]
    assert len(sizes) == SHARDS and sum(sizes) == 100_000
    assert max(sizes) < 2 * 100_000 // SHARDS
