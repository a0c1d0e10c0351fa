"""The disposer (`photond.disposal`): handed-over containers are freed on its thread, a chunk
at a time, and only once nobody else holds them."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

import pytest

from photond import disposal


class Item:
    """A stand-in for a task: something whose freeing can be watched."""


def watch(items: list[Item], freed_on: list[str]) -> None:
    """Record the name of the thread each of `items` is freed on."""
    for item in items:
        weakref.finalize(item, lambda: freed_on.append(threading.current_thread().name))


@pytest.mark.parametrize(
    "container",
    [list, tuple, lambda items: {f"t{i}": item for i, item in enumerate(items)}],
    ids=["list", "tuple", "dict"],
)
def test_items_are_freed_on_the_disposer_thread_a_chunk_at_a_time(
    monkeypatch: pytest.MonkeyPatch, container: Callable[[list[Item]], object]
) -> None:
    pauses: list[int] = []
    monkeypatch.setattr(disposal, "pause", lambda: pauses.append(1))
    items = [Item() for _ in range(10 * disposal.CHUNK_ITEMS)]
    freed_on: list[str] = []
    watch(items, freed_on)
    disposal.dispose(container(items))
    del items
    assert disposal.idle(10.0)
    assert freed_on == ["photond-dispose"] * 10 * disposal.CHUNK_ITEMS
    assert len(pauses) >= 10, "freed in one go: the interpreter was held throughout"


def test_a_container_still_held_elsewhere_waits_for_its_last_other_holder() -> None:
    items = [Item() for _ in range(100)]
    freed_on: list[str] = []
    watch(items, freed_on)
    held = tuple(items)
    del items
    disposal.dispose(held)
    # The disposer holds it too and waits; nothing is freed while this test holds it.
    assert not disposal.idle(0.2)
    assert freed_on == []
    del held
    assert disposal.idle(10.0)
    assert freed_on == ["photond-dispose"] * 100


def test_a_container_still_shared_holds_up_none_of_the_others() -> None:
    kept = [Item() for _ in range(10)]
    disposal.dispose(kept)  # this test keeps it past the end
    items = [Item() for _ in range(100)]
    freed_on: list[str] = []
    watch(items, freed_on)
    disposal.dispose(items)
    del items
    for _ in range(500):
        if freed_on:
            break
        time.sleep(0.01)
    assert freed_on == ["photond-dispose"] * 100
    assert not disposal.idle(0.0), "the shared one is still waiting"
    del kept
    assert disposal.idle(10.0)


def test_items_shared_with_another_container_are_freed_with_the_last_one() -> None:
    items = [Item() for _ in range(100)]
    freed_on: list[str] = []
    watch(items, freed_on)
    by_id = {f"t{i}": item for i, item in enumerate(items)}
    disposal.dispose(tuple(items), by_id)
    del items, by_id
    assert disposal.idle(10.0)
    assert freed_on == ["photond-dispose"] * 100


def test_what_is_not_a_container_or_is_empty_is_not_taken() -> None:
    disposal.dispose(None, [], {}, (), Item())
    assert disposal.idle(0.0)
