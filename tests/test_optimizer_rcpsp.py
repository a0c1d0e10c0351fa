"""The optimiser's combinatorial core on RCPSP / STG: readers, decoder, search, bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from photond.planning.bounds import critical_path_ticks, lower_bound_ticks
from photond.planning.decoder import decode
from photond.planning.instance import build_instance
from photond.planning.optimize import Level, optimize
from photond.planning.psplib import read_psplib, read_solution_table
from photond.planning.seed import lft_order
from photond.planning.stg import read_stg, read_stg_optima
from photond.planning.validator import validate_schedule

BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks"
needs_bench = pytest.mark.skipif(
    not BENCH.is_dir(), reason=f"benchmark instances not found at {BENCH} (../shared/benchmarks)"
)


def test_hand_checked_optimum_needs_the_search() -> None:
    # Capacity 2. a(2 ticks, 1), b(2, 1), c(2, 2), d(4, 1) after a. c takes the whole
    # capacity, so it cannot overlap the a -> d chain (6 ticks): the optimum is 8, above both
    # the critical path and the work bound (12 / 2 = 6).
    inst = build_instance(
        ["a", "b", "c", "d"],
        [2, 2, 2, 4],
        [[], [], [], [0]],
        [2],
        [[(0, 1)], [(0, 1)], [(0, 2)], [(0, 1)]],
    )
    solution = optimize(inst, Level.BALANCED, max_rounds=3)
    assert solution.makespan_ticks == 8
    assert lower_bound_ticks(inst) == 6
    assert validate_schedule(inst, solution.start) == []


def test_decoder_respects_precedence_and_capacity() -> None:
    inst = build_instance(
        ["a", "b", "c"], [3, 1, 2], [[], [0], [0]], [1], [[(0, 1)], [(0, 1)], [(0, 1)]]
    )
    makespan, start, _ = decode(inst, lft_order(inst))
    assert makespan == 6 and critical_path_ticks(inst) == 5
    assert validate_schedule(inst, start) == []


@needs_bench
def test_psplib_j30_instance_reaches_its_optimum() -> None:
    path = BENCH / "psplib" / "j30" / "j301_1.sm"
    inst = read_psplib(path)
    assert inst.n == 32 and list(inst.capacity) == [12, 13, 4, 12]
    optimum = read_solution_table(BENCH / "psplib" / "j30opt.sm")[(1, 1)]
    solution = optimize(inst, Level.BALANCED, max_rounds=40, seed=1)
    assert validate_schedule(inst, solution.start) == []
    assert solution.makespan_ticks == optimum == 43


@needs_bench
def test_stg_reader_and_deterministic_search() -> None:
    inst = read_stg(BENCH / "stg" / "50" / "rand0000.stg", procs=4)
    assert inst.n == 52
    optimum = read_stg_optima(BENCH / "stg" / "opt", 4)["50/rand0000.stg"]
    runs = [optimize(inst, Level.BALANCED, max_rounds=5, seed=7) for _ in range(2)]
    assert runs[0].makespan_ticks == runs[1].makespan_ticks
    assert list(runs[0].start) == list(runs[1].start)
    assert runs[0].makespan_ticks >= optimum[0]
    assert validate_schedule(inst, runs[0].start) == []


@needs_bench
def test_search_gives_the_same_plan_on_one_and_two_threads() -> None:
    import numba

    inst = read_psplib(BENCH / "psplib" / "j60" / "j6013_1.sm")
    before = numba.get_num_threads()
    try:
        results = []
        most = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
        for threads in (1, min(2, most)):
            numba.set_num_threads(threads)
            results.append(optimize(inst, Level.BALANCED, max_rounds=3, seed=5))
    finally:
        numba.set_num_threads(before)
    assert results[0].makespan_ticks == results[1].makespan_ticks
    assert list(results[0].start) == list(results[1].start)


def test_validator_rejects_broken_schedules() -> None:
    inst = build_instance(
        ["a", "b", "c"], [2, 2, 2], [[], [0], []], [1], [[(0, 1)], [(0, 1)], [(0, 1)]]
    )
    assert validate_schedule(inst, [0, 2, 4]) == []
    assert any("before" in p for p in validate_schedule(inst, [0, 1, 4]))
    assert any("capacity" in p for p in validate_schedule(inst, [0, 2, 3]))
