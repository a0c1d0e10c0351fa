"""The collector policy (`photond.heap`): no collection while a large structure is built, and
what was built is left out of later collections."""

from __future__ import annotations

import gc

from photond import heap


def test_building_holds_collection_off_and_freezes_what_it_built() -> None:
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    with heap.building():
        assert not gc.isenabled()
        with heap.building():  # nested, as two threads' builds would overlap
            built = [{"task": i} for i in range(1000)]
        assert not gc.isenabled(), "the outer build is still going"
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(built)
    gc.unfreeze()  # leave the test process as it was


def test_collection_resumes_even_when_the_build_fails() -> None:
    try:
        with heap.building():
            raise ValueError("a body that did not decode")
    except ValueError:
        pass
    assert gc.isenabled()
    gc.unfreeze()
