"""The search's kernels against their twins: parallel vs serial round, decoder vs reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photon.v1 import job_pb2
from photon_bench.reference_sgs import reference_decode
from photon_drivers.profile import load_profile
from photond.planning.decoder import decode
from photond.planning.device_plan import device_thermal, graph_instance
from photond.planning.instance import Instance, build_instance
from photond.planning.psplib import read_psplib
from photond.planning.search import RoundProblem, default_moves, lft_population, tempering_round
from photond.planning.seed import lft_order
from photond.planning.stg import read_stg
from photond.rpc.validation import check_graph

BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks"
needs_bench = pytest.mark.skipif(
    not BENCH.is_dir(), reason=f"benchmark instances not found at {BENCH} (../shared/benchmarks)"
)


def _hot_instance() -> Instance:
    """A 40-task daemon graph on random zones at 150-240 mW: the thermal decoder plans it."""
    profile = load_profile()
    zones = [z.id for z in profile.zones]
    rng = np.random.default_rng(4)
    tasks = [
        job_pb2.Task(
            id=f"t{i}",
            duration_s=float(rng.choice([0.1, 0.2, 0.5, 1.0])),
            zone_powers=[
                job_pb2.ZonePower(
                    zone_id=zones[int(rng.integers(len(zones)))],
                    power_mw=float(rng.uniform(150, 240)),
                )
            ],
            depends_on=[f"t{i - 3}"] if i >= 3 and rng.random() < 0.3 else [],
        )
        for i in range(40)
    ]
    graph = check_graph(job_pb2.TaskGraph(tasks=tasks), profile, 41)
    inst = graph_instance(graph, device_thermal(profile)).instance
    assert inst.thermal is not None
    return inst


ROUND_INSTANCES = {
    "thermal": _hot_instance,
    "j30": lambda: read_psplib(BENCH / "psplib" / "j30" / "j301_1.sm"),
    "stg": lambda: read_stg(BENCH / "stg" / "50" / "rand0003.stg", procs=4),
}


@pytest.mark.parametrize("name", list(ROUND_INSTANCES))
def test_parallel_and_serial_rounds_are_bit_identical(name: str) -> None:
    if name != "thermal" and not BENCH.is_dir():
        pytest.skip(f"benchmark instances not found at {BENCH}")
    inst = ROUND_INSTANCES[name]()  # type: ignore[no-untyped-call]
    problem = RoundProblem.of(inst)
    start = lft_population(inst, problem, replicas=8, seed=11)
    parallel, serial = start.copy(), start.copy()
    moves = default_moves(inst.n)
    for _ in range(2):
        done = tempering_round(parallel, moves, problem, parallel=True)
        assert tempering_round(serial, moves, problem, parallel=False) == done
    assert done == 8 * moves * problem.decodes_per_move
    for field in ("lists", "costs", "best_lists", "best_costs", "state", "delays", "best_delays"):
        assert np.array_equal(getattr(parallel, field), getattr(serial, field)), field
    # Thermal replicas carry delays, and the rounds moved them too.
    assert parallel.delays.shape == (8, inst.n if inst.thermal is not None else 0)
    if inst.thermal is not None:
        assert parallel.delays.any()
    # The comparison means something only if the rounds moved the replicas.
    assert not np.array_equal(parallel.lists, start.lists)
    assert not np.array_equal(parallel.state, start.state)


def _same_schedule(inst: Instance, order: np.ndarray) -> None:
    kernel = decode(inst, order)
    reference = reference_decode(inst, order)
    assert kernel[0] == reference[0]
    assert np.array_equal(kernel[1], reference[1])
    assert np.array_equal(kernel[2], reference[2])


@needs_bench
@pytest.mark.parametrize("path", sorted((BENCH / "psplib" / "j30").glob("*.sm")), ids=str)
def test_reference_matches_the_decoder_on_j30(path: Path) -> None:
    inst = read_psplib(path)
    for seed in range(4):
        _same_schedule(inst, lft_order(inst, noise=0.5 * seed, seed=seed))


@st.composite
def small_instances(draw: st.DrawFn) -> tuple[Instance, np.ndarray]:
    """Random instances (resources, releases, explicit lanes or none) and an activity list."""
    n = draw(st.integers(1, 12))
    capacity = draw(st.lists(st.integers(1, 4), max_size=3))
    lanes = draw(st.integers(0, 3))
    lane_mask = None
    if lanes:
        rows = [draw(st.sets(st.integers(0, lanes - 1), min_size=1)) for _ in range(n)]
        lane_mask = np.array([[k in row for k in range(lanes)] for row in rows], dtype=np.bool_)
    inst = build_instance(
        [f"t{i}" for i in range(n)],
        [draw(st.integers(0, 6)) for _ in range(n)],
        [sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)],
        capacity,
        [[(r, draw(st.integers(0, c))) for r, c in enumerate(capacity)] for _ in range(n)],
        release=[draw(st.sampled_from([0, 0, 0, 2, 7])) for _ in range(n)],
        lane_mask=lane_mask,
    )
    # Large noise makes the LFT list close to a random topological order.
    order = lft_order(
        inst, noise=draw(st.sampled_from([0.0, 0.3, 5.0])), seed=draw(st.integers(0, 2**32))
    )
    return inst, order


@settings(max_examples=300, deadline=None)
@given(small_instances())
def test_reference_matches_the_decoder_on_small_instances(
    case: tuple[Instance, np.ndarray],
) -> None:
    _same_schedule(*case)


@needs_bench
def test_reference_matches_the_decoder_on_j60_and_stg() -> None:
    for inst in (
        read_psplib(BENCH / "psplib" / "j60" / "j6013_1.sm"),
        read_stg(BENCH / "stg" / "50" / "rand0000.stg", procs=4),
    ):
        problem = RoundProblem.of(inst)
        pop = lft_population(inst, problem, replicas=8, seed=2)
        tempering_round(pop, 5, problem)
        for order in pop.lists:
            _same_schedule(inst, order)


def test_reference_rejects_a_list_against_precedence() -> None:
    inst = build_instance(["a", "b"], [1, 1], [[], [0]], [1], [[(0, 1)], [(0, 1)]])
    assert reference_decode(inst, [0, 1])[0] == 2
    with pytest.raises(ValueError, match="predecessor"):
        reference_decode(inst, [1, 0])
    with pytest.raises(ValueError, match="permutation"):
        reference_decode(inst, [0, 0])
