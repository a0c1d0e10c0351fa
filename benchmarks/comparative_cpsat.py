"""CP-SAT on a time-indexed model of a thermal scheduling instance: the study's exact reference.

Run by `benchmarks/comparative.py` as a child process in the `.venv-cpsat` environment
(`make bench-cpsat` builds it: OR-Tools pins a protobuf photond's wire code cannot use), so it
imports nothing of photond: the parent writes the instance as arrays (`--instance X.npz`) and
reads one JSON line back.

The model. A boolean x[i, s] per task i and start tick s in [release_i, horizon - d_i]; each
task starts once. Precedences, the lane pool (a cumulative) and every capacity-one heater group
(a no-overlap) on interval variables whose start is Σ s·x[i, s]. Heat: the compact model is
linear, so the rise at limit point r at tick k is Σ_i Σ_s x[i, s] · R_i[k - s, r], where R_i is
task i's response started at tick 0 (the planner's own superposition tables played through its
own recurrence, computed by the parent). The limit (max rise) holds at every point and tick,
and the gradient limit between every neighbouring sensor pair, both signs. Coefficients are in
µK, rounded to the nearest.

There are some 10^5 (tick, point) rows of up to 10^3 terms each, nearly all slack, so they are
added lazily: solve, play the optimum through the float superposition, add the rows the
optimum breaks (the worst point and pair of every breaking tick), solve again. Each model is
a relaxation of the full one, so its bound is a bound of the full problem; an optimum that
breaks nothing is the full problem's optimum (proven). The time limit covers every round.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

SCALE = 1e6  # coefficients in µK


def solve(data: dict[str, Any], time_limit_s: float, workers: int) -> dict[str, Any]:
    started = time.perf_counter()
    n = int(data["duration"].shape[0])
    dur = data["duration"].astype(int)
    release = data["release"].astype(int)
    horizon = int(data["horizon"])
    response = data["response"]  # (n, lags, points) K
    pf, ps, inv = data["pair_first"], data["pair_second"], data["pair_inv_distance_per_mm"]
    max_rise = float(data["max_rise_k"])
    max_grad = float(data["max_gradient_c_per_mm"])
    checked = int(data["checked_ticks"])  # ticks read: [0, checked)
    model = cp_model.CpModel()
    x: list[dict[int, Any]] = []
    starts, ends, intervals = [], [], []
    for i in range(n):
        choices = {
            s: model.new_bool_var(f"x{i}_{s}") for s in range(release[i], horizon - dur[i] + 1)
        }
        model.add_exactly_one(choices.values())
        x.append(choices)
        s_var = model.new_int_var(int(release[i]), horizon - int(dur[i]), f"s{i}")
        model.add(s_var == sum(s * v for s, v in choices.items()))
        e_var = model.new_int_var(0, horizon, f"e{i}")
        intervals.append(model.new_interval_var(s_var, int(dur[i]), e_var, f"iv{i}"))
        starts.append(s_var)
        ends.append(e_var)
    for a, b in zip(data["edge_from"].tolist(), data["edge_to"].tolist(), strict=True):
        model.add(starts[b] >= ends[a])
    for r, cap in enumerate(data["capacity"].tolist()):
        members = [
            (int(t), int(q))
            for t, res, q in zip(
                data["demand_task"], data["demand_resource"], data["demand_amount"], strict=True
            )
            if int(res) == r
        ]
        if cap == 1:
            model.add_no_overlap([intervals[t] for t, _ in members])
        else:
            model.add_cumulative([intervals[t] for t, _ in members], [q for _, q in members], cap)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, ends)
    model.minimize(makespan)
    lags = response.shape[1]

    def row(k: int, weights: np.ndarray[Any, Any]) -> Any:
        """Σ x[i, s] · (weights · R_i[k - s]) in µK, for starts s <= k."""
        terms = []
        for i in range(n):
            values = response[i] @ weights  # (lags,)
            for s, v in x[i].items():
                lag = k - s
                if 0 <= lag < lags:
                    c = round(float(values[lag]) * SCALE)
                    if c:
                        terms.append(c * v)
        return sum(terms)

    def trace(start: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        y = np.zeros((checked, response.shape[2]))
        for i in range(n):
            span = min(lags, checked - start[i])
            if span > 0:
                y[start[i] : start[i] + span] += response[i, :span]
        return y

    points = response.shape[2]
    tolerance_k = n * 0.5 / SCALE + 1e-9
    cuts = 0
    rounds = 0
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    result: dict[str, Any] = {"proven": False, "makespan": None, "bound": None}
    while True:
        remaining = time_limit_s - (time.perf_counter() - started)
        if remaining <= 0:
            break
        solver.parameters.max_time_in_seconds = remaining
        status = solver.solve(model)
        rounds += 1
        if status == cp_model.INFEASIBLE:
            result["infeasible"] = True
            break
        if status == cp_model.UNKNOWN:
            break
        result["bound"] = round(solver.best_objective_bound)
        start = np.array([solver.value(s) for s in starts], dtype=int)
        y = trace(start)
        hot = y.max(axis=1) > max_rise + tolerance_k
        grad = np.abs(y[:, pf] - y[:, ps]) * inv
        steep = grad.max(axis=1) > max_grad + tolerance_k
        if not hot.any() and not steep.any():
            result["makespan"] = int(solver.objective_value)
            result["start"] = start.tolist()
            result["proven"] = status == cp_model.OPTIMAL
            break
        if status != cp_model.OPTIMAL:
            # A relaxation's incumbent that breaks the limits, found at the time limit: no
            # feasible solution to report, only the bound.
            break
        for k in np.flatnonzero(hot):
            weights = np.zeros(points)
            weights[int(np.argmax(y[k]))] = 1.0
            model.add(row(int(k), weights) <= int(max_rise * SCALE))
            cuts += 1
        for k in np.flatnonzero(steep):
            p = int(np.argmax(grad[k]))
            weights = np.zeros(points)
            weights[pf[p]], weights[ps[p]] = inv[p], -inv[p]
            sign = 1.0 if y[k, pf[p]] >= y[k, ps[p]] else -1.0
            model.add(row(int(k), sign * weights) <= int(max_grad * SCALE))
            cuts += 1
    result.update(rounds=rounds, cuts=cuts, time_s=time.perf_counter() - started)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", required=True, help=".npz written by comparative.py")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with np.load(args.instance) as npz:
        data = {k: npz[k] for k in npz.files}
    print(json.dumps(solve(data, args.time_limit, args.workers)))


if __name__ == "__main__":
    main()
