"""Optimise one instance at an optimisation level: seed, decode, search, report.

Levels and their budgets (the daemon maps OptimizationLevel onto these):

* FAST — the LFT seed list decoded once by the serial scheme: the decoder's first feasible
  plan. No search; linear-ish in tasks.
* BALANCED — parallel tempering from that seed with 8 replicas for at most 1 s of wall time
  (or `max_rounds` rounds), stopping early when a lower bound is met.
* QUALITY — the same search, same replicas and same random streams, for at most 5 s. Because
  it continues BALANCED's trajectory, a QUALITY plan is never longer than the BALANCED plan of
  the same seed (when both are bounded by rounds, exactly; by time, whenever QUALITY ran at
  least as many rounds).

Callers may pass a tighter deadline (the daemon's own, or a benchmark's time limit); the search
is anytime and returns the best plan found when it expires.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numba
import numpy as np

from photond.planning.bounds import lower_bound_ticks
from photond.planning.decoder import NO_DELAY, decode
from photond.planning.instance import Instance, ThermalTables
from photond.planning.plan import Stats
from photond.planning.search import SEARCH_NAME, anneal
from photond.planning.seed import lft_order
from photond.planning.thermal_check import infeasible_task
from photond.planning.thermal_tables import trace_figures


class Level(enum.IntEnum):
    """Optimisation levels, numbered as photon.v1.OptimizationLevel."""

    FAST = 1
    BALANCED = 2
    QUALITY = 3


@dataclass(frozen=True)
class Budget:
    time_s: float
    max_rounds: int


BUDGETS = {
    Level.FAST: Budget(time_s=0.0, max_rounds=0),
    Level.BALANCED: Budget(time_s=1.0, max_rounds=1_000_000),
    Level.QUALITY: Budget(time_s=5.0, max_rounds=1_000_000),
}
REPLICAS = 8


class ThermallyInfeasible(ValueError):
    """Some task breaks a thermal limit even when started from ambient with nothing else on."""

    def __init__(self, message: str, task: str | None = None) -> None:
        super().__init__(message if task is None else f"task {task!r}: {message}")
        self.task = task


@dataclass(frozen=True)
class Solution:
    start: np.ndarray[Any, Any]
    lane: np.ndarray[Any, Any]
    makespan_ticks: int
    lower_bound_ticks: int
    stats: Stats


def optimize(
    inst: Instance,
    level: Level = Level.BALANCED,
    *,
    time_limit_s: float | None = None,
    max_rounds: int | None = None,
    moves_per_round: int = 0,
    seed: int = 0,
    replicas: int = REPLICAS,
    lower_bound: int | None = None,
    hold_moves: bool = True,
) -> Solution:
    """Plan `inst` at `level`; `time_limit_s` / `max_rounds` override the level's budget.
    `moves_per_round` (0: `search.default_moves`) is the search's moves per replica and round;
    `hold_moves=False` searches lists alone, holding no task back (benchmarks compare both).

    Raises:
        ThermallyInfeasible: the decoder found a task that can never run within the limits.
    """
    started = time.perf_counter()
    if inst.thermal is not None and inst.thermal.drift is None:
        # Heat-aware only where heat binds: when the plain seed plan stays inside the limits
        # (by the model's trace), search without the thermal check and keep the result if it
        # stays inside too, else the plain seed plan; otherwise plan with the thermal decoder.
        # (Drift-sensitive tasks always need the thermal decoder: the trace does not show drift.)
        cold_inst = replace(inst, thermal=None)
        cold_order = lft_order(inst)
        cold_span, cold_start, cold_lane = decode(cold_inst, cold_order)
        if within_limits(inst.thermal, cold_start, inst.duration):
            cold = optimize(
                cold_inst,
                level,
                time_limit_s=time_limit_s,
                max_rounds=max_rounds,
                moves_per_round=moves_per_round,
                seed=seed,
                replicas=replicas,
                lower_bound=lower_bound,
                hold_moves=hold_moves,
            )
            if within_limits(inst.thermal, cold.start, inst.duration):
                return cold
            stats = replace(cold.stats, planner="serial-sgs")
            return Solution(cold_start, cold_lane, cold_span, cold.lower_bound_ticks, stats)
        if time_limit_s is not None:
            time_limit_s = max(0.0, time_limit_s - (time.perf_counter() - started))
    budget = BUDGETS[level]
    limit_s = budget.time_s if time_limit_s is None else time_limit_s
    rounds = budget.max_rounds if max_rounds is None else max_rounds
    if level is Level.FAST:
        rounds = 0
    bound = lower_bound_ticks(inst) if lower_bound is None else lower_bound
    order = lft_order(inst)
    decoded = time.perf_counter()
    makespan, start, lane = decode(inst, order)
    decode_s = time.perf_counter() - decoded
    if makespan < 0:
        task = infeasible_task(makespan)
        raise ThermallyInfeasible(
            "a task exceeds the thermal limits even from ambient",
            task=None if task is None else inst.names[task],
        )
    seed_makespan = makespan
    result_rounds, evaluations = 0, 1
    if rounds > 0 and makespan > bound and inst.n > 1:
        found = anneal(
            inst,
            seed_order=order,
            seed_makespan=makespan,
            lower_bound_ticks=bound,
            deadline_s=started + limit_s,
            max_rounds=rounds,
            moves_per_round=moves_per_round,
            replicas=replicas,
            seed=seed,
            gate_first_round=max_rounds is None,
            seed_decode_s=decode_s,
            hold_moves=hold_moves,
        )
        result_rounds, evaluations = found.rounds, evaluations + found.evaluations
        if found.makespan_ticks <= makespan:
            # The search stores the lists it scored (justified ones included): decode again.
            tied = list(found.tied)
            seed_plan = None
            if found.makespan_ticks == makespan:
                tied.insert(0, (order, NO_DELAY))
                seed_plan = (makespan, start, lane)
            makespan, start, lane = least_aging(
                inst, tied, started + limit_s, seed_plan, decode_s=decode_s
            )
    stats = Stats(
        level=level.name,
        planner=SEARCH_NAME if level is not Level.FAST else "serial-sgs",
        replicas=replicas if rounds > 0 else 1,
        rounds=result_rounds,
        evaluations=evaluations,
        elapsed_s=time.perf_counter() - started,
        seed_makespan_ticks=int(seed_makespan),
    )
    return Solution(start, lane, int(makespan), bound, stats)


Decoded = tuple[int, np.ndarray[Any, Any], np.ndarray[Any, Any]]


def least_aging(
    inst: Instance,
    orders: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
    deadline_s: float = math.inf,
    first: Decoded | None = None,
    decode_s: float = 0.0,
) -> Decoded:
    """Decode (list, delays) of equal makespan; keep the one whose plan ages the device least.

    The first is always decoded (unless `first` is its decoding already); the others, once
    each (repeats are skipped), only while a decode taking `decode_s` still ends before
    `deadline_s` (perf_counter), so the tie-break keeps to the planning budget.

    The tie-break after makespan (docs/optimizer.md §4): Arrhenius equivalent hours of the
    hottest sensor by the model's trace. Energy cannot break ties — every schedule of a graph
    dissipates the same Σ power·duration — so it is not computed. Without heat, the first list.
    """
    best: tuple[float, int, np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None
    seen: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    for k, (order, delay) in enumerate(orders if inst.thermal is not None else orders[:1]):
        if any(np.array_equal(order, o) and np.array_equal(delay, d) for o, d in seen):
            continue
        if k and time.perf_counter() + decode_s >= deadline_s:
            break
        seen.append((order, delay))
        makespan, start, lane = (
            first if k == 0 and first is not None else decode(inst, order, delay)
        )
        aging = plan_aging_hours(inst.thermal, start, inst.duration, inst.tick_s)
        if best is None or (makespan, aging) < (best[1], best[0]):
            best = (aging, makespan, start, lane)
    assert best is not None
    return best[1], best[2], best[3]


def plan_aging_hours(
    tables: ThermalTables | None,
    start: np.ndarray[Any, Any],
    duration: np.ndarray[Any, Any],
    tick_s: float,
) -> float:
    """Equivalent aging hours of the limit point a plan ages most, as predicted (0: no heat)."""
    if tables is None:
        return 0.0
    return trace_figures(tables, start, duration, tick_s).aging_hours


def level_budget_s(level: Level) -> float:
    """The wall time a level may spend planning (0 for FAST: one decode, however long)."""
    return BUDGETS[level].time_s


def pooled_lanes(
    start: np.ndarray[Any, Any], duration: np.ndarray[Any, Any], lanes: int
) -> np.ndarray[Any, Any]:
    """Give each task a lane of a pool, greedily by start: never more than `lanes` at once.

    Raises:
        ValueError: more than `lanes` tasks overlap (the schedule was not lane-feasible).
    """
    order = np.lexsort((np.arange(start.shape[0]), start))
    out = np.zeros(start.shape[0], dtype=np.int64)
    if not _pool_lanes(order, start, duration, lanes, out):
        raise ValueError("more tasks overlap than there are lanes")
    return out


@numba.njit(cache=True)
def _pool_lanes(order, start, duration, lanes, out):  # type: ignore[no-untyped-def]
    free_at = np.zeros(lanes, dtype=np.int64)
    for i in order:
        if duration[i] == 0:
            continue
        lane = -1
        for j in range(lanes):
            if free_at[j] <= start[i]:
                lane = j
                break
        if lane < 0:
            return False
        free_at[lane] = start[i] + duration[i]
        out[i] = lane
    return True


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel, so the first real plan is fast.

    Call before announcing readiness: a cold compile takes tens of seconds.
    """
    from photond.planning.instance import build_instance

    inst = build_instance(["a", "b", "c"], [1, 2, 1], [[], [0], []], [1], [[(0, 1)]] * 3)
    # A zero bound so the search really runs (its seed plan is optimal: with the true bound,
    # the tempering kernels would not be compiled here but in the first real plan).
    optimize(inst, Level.BALANCED, max_rounds=1, lower_bound=0)


def within_limits(
    tables: ThermalTables, start: np.ndarray[Any, Any], duration: np.ndarray[Any, Any]
) -> bool:
    """Whether the model's trace of a schedule keeps every limit point and gradient in limits."""
    figures = trace_figures(tables, start, duration, 1.0, aging=False)
    return (
        figures.peak_rise_k <= tables.max_rise_k
        and figures.peak_gradient_c_per_mm <= tables.max_gradient_c_per_mm
    )
