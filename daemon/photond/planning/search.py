"""Parallel tempering over activity lists, replicas evaluated in numba prange kernels.

Each replica holds a precedence-feasible activity list and a temperature. A *round* runs, in
parallel over replicas (`prange`), a fixed number of moves per replica: an insert move (one task
moved to a random position between its last predecessor and first successor), decoded by the
serial scheme, then — on instances without heat or release times — double justification
(forward-backward improvement: shift every task as late as possible, then as early as possible;
Valls et al. 2005), whose result list replaces the move (Lamarckian). Metropolis acceptance at
the replica's temperature. Between rounds, neighbouring temperatures swap states with the
parallel-tempering rule. The best list ever decoded is kept. `tempering_round(...,
parallel=False)` runs the same replica code one replica after another: the tests check that it
gives the same lists, the optimizer benchmark compares the speeds.

Determinism: every replica draws from its own xorshift stream seeded from `seed`, the replica
count does not depend on the thread count, and swaps are drawn serially, so a run bounded by
rounds gives the same plan for the same seed on any number of threads. A run bounded by a
deadline stops after a whole round, so it returns the best of however many rounds fitted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import prange

from photond.planning import bounds
from photond.planning.decoder import decode_kernel, problem_args, reversed_args, thermal_args
from photond.planning.instance import Instance
from photond.planning.seed import lft_order, topological_order

SEARCH_NAME = "parallel-tempering"
# Share of a thermal instance's moves that hold a task back or let it go (`_hold_move`).
HOLD_SHARE = 0.3


@dataclass(frozen=True)
class SearchResult:
    """The best list found and what it took."""

    order: np.ndarray[Any, Any]
    # The delays that go with `order` (empty: none), as `decoder.decode` takes them.
    delay: np.ndarray[Any, Any]
    makespan_ticks: int
    # Every replica's best (list, delays) that ties `makespan_ticks` (`order` first), for
    # tie-breaks.
    tied: tuple[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], ...]
    rounds: int
    evaluations: int
    replicas: int
    elapsed_s: float


@numba.njit(cache=True)
def _next(state, r):  # type: ignore[no-untyped-def]
    """xorshift64* step of replica r's stream; returns a float in [0, 1)."""
    x = state[r]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[r] = x
    return float((x * np.uint64(2685821657736338717)) >> np.uint64(11)) / 9007199254740992.0


@numba.njit(cache=True)
def _insert_move(order, pos, pred_ptr, pred_idx, succ_ptr, succ_idx, state, r):  # type: ignore[no-untyped-def]
    """Move one task to a random precedence-feasible position; False if nothing moved."""
    n = order.shape[0]
    a = int(_next(state, r) * n)
    v = order[a]
    lo = 0
    for k in range(pred_ptr[v], pred_ptr[v + 1]):
        lo = max(lo, pos[pred_idx[k]] + 1)
    hi = n - 1
    for k in range(succ_ptr[v], succ_ptr[v + 1]):
        hi = min(hi, pos[succ_idx[k]] - 1)
    if hi <= lo:
        return False
    b = lo + int(_next(state, r) * (hi - lo + 1))
    if b == a:
        return False
    if b < a:
        for k in range(a, b, -1):
            order[k] = order[k - 1]
            pos[order[k]] = k
    else:
        for k in range(a, b):
            order[k] = order[k + 1]
            pos[order[k]] = k
    order[b] = v
    pos[v] = b
    return True


@numba.njit(cache=True)
def justify(order, prob, rprob, therm, rank, start, lane):  # type: ignore[no-untyped-def]
    """Double justification of `order` in place; returns the new makespan (ticks).

    Backward pass: tasks by decreasing finish on the reversed graph; forward pass: tasks by
    increasing start of the right-justified schedule. Ties follow the topological rank so both
    lists stay precedence-feasible.
    """
    n = order.shape[0]
    dur = prob[0]
    none = np.zeros(0, dtype=np.int64)  # justification holds nothing back
    makespan = decode_kernel(order, prob, therm, start, lane, none)
    key = np.empty(n, dtype=np.int64)
    for i in range(n):
        key[i] = -(start[i] + dur[i]) * n - rank[i]
    back = np.argsort(key)
    bstart = np.empty(n, dtype=np.int64)
    blane = np.empty(n, dtype=np.int64)
    back_span = decode_kernel(back, rprob, therm, bstart, blane, none)
    for i in range(n):
        key[i] = (back_span - bstart[i] - dur[i]) * n + rank[i]
    forward = np.argsort(key)
    again = decode_kernel(forward, prob, therm, start, lane, none)
    if again <= makespan:
        order[:] = forward
        return again
    decode_kernel(order, prob, therm, start, lane, none)
    return makespan


@numba.njit(cache=True)
def _hold_move(delay, hold_ticks, state, r):  # type: ignore[no-untyped-def]
    """Hold one task back (or release it): a new delay for a random task.

    A held task is let go (delay 0) half the time, so that delays stay few; otherwise its
    delay is drawn from 1 … `hold_ticks`.
    """
    v = int(_next(state, r) * delay.shape[0])
    if delay[v] > 0 and _next(state, r) < 0.5:
        delay[v] = 0
    else:
        delay[v] = 1 + int(_next(state, r) * hold_ticks)


@numba.njit(cache=True)
def _replica_moves(r, pop, moves, prob, rprob, therm, rank, use_fbi, hold):  # type: ignore[no-untyped-def]
    """`moves` Metropolis moves of replica r; touches only row r and state[r].

    `pop` is (lists, costs, best_lists, best_costs, temps, state, delays, best_delays) as
    `Population` holds them; the rest are `RoundProblem`'s fields, kept apart: numba's parallel
    lowering rejected them packed into one tuple of tuples. Where the replicas carry delays
    (thermal instances), a share `HOLD_SHARE` of the moves changes a delay instead of the list.
    """
    lists, costs, best_lists, best_costs, temps, state, delays, best_delays = pop
    n = lists.shape[1]
    held = delays.shape[1] > 0
    delay = delays[r].copy()
    trial_delay = delay.copy()
    pred_ptr, pred_idx = prob[2], prob[3]
    succ_ptr, succ_idx = rprob[2], rprob[3]
    order = lists[r].copy()
    pos = np.empty(n, dtype=np.int64)
    for k in range(n):
        pos[order[k]] = k
    trial = order.copy()
    tpos = pos.copy()
    start = np.empty(n, dtype=np.int64)
    lane = np.empty(n, dtype=np.int64)
    cur = costs[r]
    for _ in range(moves):
        trial[:] = order
        tpos[:] = pos
        trial_delay[:] = delay
        if held and _next(state, r) < hold[1]:
            _hold_move(trial_delay, hold[0], state, r)
        else:
            moved = _insert_move(trial, tpos, pred_ptr, pred_idx, succ_ptr, succ_idx, state, r)
            if not moved and n > 1:
                _insert_move(trial, tpos, pred_ptr, pred_idx, succ_ptr, succ_idx, state, r)
        if use_fbi:
            cost = justify(trial, prob, rprob, therm, rank, start, lane)
            for k in range(n):
                tpos[trial[k]] = k
        else:
            cost = decode_kernel(trial, prob, therm, start, lane, trial_delay)
        if cost < 0:
            continue
        delta = cost - cur
        if delta <= 0 or _next(state, r) < math.exp(-delta / temps[r]):
            order[:] = trial
            pos[:] = tpos
            delay[:] = trial_delay
            cur = cost
            if cost < best_costs[r]:
                best_costs[r] = cost
                best_lists[r] = trial
                best_delays[r] = trial_delay
    lists[r] = order
    delays[r] = delay
    costs[r] = cur


# The parallel round and its serial twin share the replica body above and differ only in the
# loop over replicas. (Wrapping one Python function twice, once with parallel=True, is not an
# option with cache=True: numba's cache index is keyed by bytecode and signature, not by target
# options, so the two would load each other's machine code — numba issue #6845.)
@numba.njit(cache=True, parallel=True)
def _tempering_round(pop, moves, prob, rprob, therm, rank, use_fbi, hold):  # type: ignore[no-untyped-def]
    """`moves` Metropolis moves per replica, replicas in parallel."""
    for r in prange(pop[0].shape[0]):
        _replica_moves(r, pop, moves, prob, rprob, therm, rank, use_fbi, hold)


@numba.njit(cache=True)
def _tempering_round_serial(pop, moves, prob, rprob, therm, rank, use_fbi, hold):  # type: ignore[no-untyped-def]
    """`_tempering_round` with replicas one after another on the calling thread."""
    for r in range(pop[0].shape[0]):
        _replica_moves(r, pop, moves, prob, rprob, therm, rank, use_fbi, hold)


@dataclass(frozen=True)
class RoundProblem:
    """What a round reads of an instance, in the kernels' argument order."""

    prob: tuple[Any, ...]
    rprob: tuple[Any, ...]
    therm: tuple[Any, ...]
    rank: np.ndarray[Any, Any]
    use_fbi: bool
    # Largest delay a hold move draws (ticks); 0: the replicas carry no delays.
    hold_ticks: int

    @classmethod
    def of(cls, inst: Instance, *, hold_moves: bool = True) -> RoundProblem:
        """`hold_moves=False`: no delays even where heat binds (the list search alone)."""
        rank = np.empty(inst.n, dtype=np.int64)
        rank[topological_order(inst)] = np.arange(inst.n)
        return cls(
            prob=problem_args(inst),
            rprob=reversed_args(inst),
            therm=thermal_args(inst),
            rank=rank,
            # Justification assumes the reversed graph has no release times and no heat.
            use_fbi=inst.thermal is None and not bool(inst.release.any()),
            hold_ticks=hold_ticks(inst) if hold_moves else 0,
        )

    @property
    def decodes_per_move(self) -> int:
        """Decoded schedules per move: one, or three with double justification."""
        return 3 if self.use_fbi else 1


@dataclass(frozen=True)
class Population:
    """The replicas' lists, costs (ticks), bests, temperatures and random streams.

    A round updates every array in place; `copy` gives an independent population, so that two
    rounds can start from the same state.
    """

    lists: np.ndarray[Any, Any]
    costs: np.ndarray[Any, Any]
    best_lists: np.ndarray[Any, Any]
    best_costs: np.ndarray[Any, Any]
    temps: np.ndarray[Any, Any]
    state: np.ndarray[Any, Any]
    # Each replica's delays (replicas, n), and those of its best list; (replicas, 0) when the
    # instance takes none (`RoundProblem.hold_ticks` 0).
    delays: np.ndarray[Any, Any]
    best_delays: np.ndarray[Any, Any]

    def copy(self) -> Population:
        return Population(
            self.lists.copy(),
            self.costs.copy(),
            self.best_lists.copy(),
            self.best_costs.copy(),
            self.temps.copy(),
            self.state.copy(),
            self.delays.copy(),
            self.best_delays.copy(),
        )

    def kernel_args(self) -> tuple[np.ndarray[Any, Any], ...]:
        """The arrays in `_replica_moves`' order."""
        return (
            self.lists,
            self.costs,
            self.best_lists,
            self.best_costs,
            self.temps,
            self.state,
            self.delays,
            self.best_delays,
        )


def hold_ticks(inst: Instance) -> int:
    """The largest delay a hold move draws: the mean task duration (ticks), where heat binds.

    Holding a task back pays where heat decays meanwhile; without heat the serial scheme
    reaches every active schedule already (an optimal one among them), so nothing is held.
    """
    if inst.thermal is None or inst.n == 0:
        return 0
    return max(1, round(float(inst.duration.mean())))


def default_moves(n: int) -> int:
    """Moves per replica and round when the caller does not say (fewer on larger lists)."""
    return max(1, min(200, 2000 // max(n, 1)))


def start_population(
    inst: Instance,
    problem: RoundProblem,
    *,
    seed_order: np.ndarray[Any, Any],
    seed_makespan: int,
    lower_bound_ticks: int,
    replicas: int,
    seed: int,
    seed_decode_s: float = 0.0,
    deadline_s: float = math.inf,
) -> Population:
    """Replica 0 holds the seed list, the others noisy LFT lists; temperatures geometric.

    A replica whose fresh list would not be decoded before `deadline_s` (perf_counter, judged
    by `seed_decode_s`) starts from the seed list instead.
    """
    n = inst.n
    lists = np.empty((replicas, n), dtype=np.int64)
    costs = np.empty(replicas, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    lane = np.empty(n, dtype=np.int64)
    lists[0] = seed_order
    costs[0] = seed_makespan
    none = np.zeros(0, dtype=np.int64)
    for r in range(1, replicas):
        if time.perf_counter() + seed_decode_s >= deadline_s:
            # No time to decode a fresh seed: the replica starts from the seed list.
            lists[r], costs[r] = seed_order, seed_makespan
            continue
        order = lft_order(inst, noise=0.05 * r / replicas, seed=seed * 7919 + r)
        cost = decode_kernel(order, problem.prob, problem.therm, start, lane, none)
        if cost < 0:
            order, cost = seed_order.copy(), seed_makespan
        lists[r] = order
        costs[r] = cost
    scale = max(lower_bound_ticks, 1)
    delays = np.zeros((replicas, n if problem.hold_ticks > 0 else 0), dtype=np.int64)
    return Population(
        lists=lists,
        costs=costs,
        best_lists=lists.copy(),
        best_costs=costs.copy(),
        temps=scale * np.geomspace(0.002, 0.05, replicas),
        state=np.random.default_rng(seed).integers(1, 2**63 - 1, size=replicas, dtype=np.uint64),
        delays=delays,
        best_delays=delays.copy(),
    )


def lft_population(
    inst: Instance, problem: RoundProblem, *, replicas: int, seed: int
) -> Population:
    """The search's start without a deadline: the LFT list (as `optimize` seeds it) first.

    For callers that run rounds themselves (tests, benchmarks); `anneal` takes its seed list
    from `optimize` and times the fresh ones.
    """
    order = lft_order(inst)
    start = np.empty(inst.n, dtype=np.int64)
    lane = np.empty(inst.n, dtype=np.int64)
    makespan = int(
        decode_kernel(order, problem.prob, problem.therm, start, lane, np.zeros(0, dtype=np.int64))
    )
    return start_population(
        inst,
        problem,
        seed_order=order,
        seed_makespan=makespan,
        lower_bound_ticks=bounds.lower_bound_ticks(inst),
        replicas=replicas,
        seed=seed,
    )


def tempering_round(
    pop: Population, moves: int, problem: RoundProblem, *, parallel: bool = True
) -> int:
    """One round on `pop` in place; returns the schedules decoded.

    `parallel=False` runs the same replica code one replica after another on the calling
    thread; for the same population both give the same lists, costs and bests.
    """
    kernel = _tempering_round if parallel else _tempering_round_serial
    kernel(
        pop.kernel_args(),
        moves,
        problem.prob,
        problem.rprob,
        problem.therm,
        problem.rank,
        problem.use_fbi,
        (problem.hold_ticks, HOLD_SHARE),
    )
    return int(pop.lists.shape[0]) * moves * problem.decodes_per_move


def anneal(
    inst: Instance,
    *,
    seed_order: np.ndarray[Any, Any],
    seed_makespan: int,
    lower_bound_ticks: int,
    deadline_s: float,
    max_rounds: int,
    replicas: int = 8,
    moves_per_round: int = 0,
    seed: int = 0,
    gate_first_round: bool = True,
    seed_decode_s: float = 0.0,
    hold_moves: bool = True,
) -> SearchResult:
    """Run parallel tempering from `seed_order` until `deadline_s` (perf_counter) or rounds.

    With `gate_first_round`, the moves per round shrink so that a round fits the time left (as
    timed on the seed list), and no round starts when even one move would not; without it (a
    caller that bounds by rounds for reproducibility) the moves depend on `n` only and the
    first round always runs.
    """
    started = time.perf_counter()
    problem = RoundProblem.of(inst, hold_moves=hold_moves)
    moves = moves_per_round or default_moves(inst.n)
    threads = max(numba.get_num_threads(), 1)
    per_move_s = seed_decode_s * problem.decodes_per_move * math.ceil(replicas / threads)
    pop = start_population(
        inst,
        problem,
        seed_order=seed_order,
        seed_makespan=seed_makespan,
        lower_bound_ticks=lower_bound_ticks,
        replicas=replicas,
        seed=seed,
        seed_decode_s=seed_decode_s,
        # Fresh lists are worth decoding only if a round of one move still fits after them.
        deadline_s=deadline_s - per_move_s if gate_first_round else math.inf,
    )
    lists, costs, temps = pop.lists, pop.costs, pop.temps
    swap_rng = np.random.default_rng(seed + 1)
    rounds = 0
    evaluations = replicas  # the seeds
    while rounds < max_rounds and int(pop.best_costs.min()) > lower_bound_ticks:
        round_moves = moves
        if gate_first_round and per_move_s > 0:
            # Every round, not only the first, fits the time left: the last one is shortened.
            round_moves = min(moves, int((deadline_s - time.perf_counter()) / per_move_s))
        if round_moves < 1 or (rounds and time.perf_counter() >= deadline_s):
            break
        evaluations += tempering_round(pop, round_moves, problem)
        rounds += 1
        for r in range(replicas - 1):
            a = (1.0 / temps[r] - 1.0 / temps[r + 1]) * (costs[r] - costs[r + 1])
            if swap_rng.random() < math.exp(min(0.0, a)):
                lists[[r, r + 1]] = lists[[r + 1, r]]
                costs[[r, r + 1]] = costs[[r + 1, r]]
                pop.delays[[r, r + 1]] = pop.delays[[r + 1, r]]
    best = int(np.argmin(pop.best_costs))
    tied = [best] + [
        r for r in range(replicas) if r != best and pop.best_costs[r] == pop.best_costs[best]
    ]
    return SearchResult(
        order=pop.best_lists[best].copy(),
        delay=pop.best_delays[best].copy(),
        makespan_ticks=int(pop.best_costs[best]),
        tied=tuple((pop.best_lists[r].copy(), pop.best_delays[r].copy()) for r in tied),
        rounds=rounds,
        evaluations=evaluations,
        replicas=replicas,
        elapsed_s=time.perf_counter() - started,
    )
