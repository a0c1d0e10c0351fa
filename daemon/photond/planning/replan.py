"""Re-plan the tasks of a running job that have not started, from the estimated thermal state.

The runtime calls exactly one function, `replan(remaining, lanes, estimate, budget_s)`, so a
better planner (the optimizer's warm start under a time budget) can take its place without
touching the loop. Today's planner is a warm-started thermal list schedule:

1. Order and lanes come from the current plan (the warm start): the tasks keep their lanes and
   their planned order, which already respect dependencies. Without a plan, the list planner
   (`planner.plan_list_schedule`) supplies both. Re-running that planner on every re-plan is not
   an option: its heater bookkeeping grows quadratically and takes hundreds of milliseconds on
   1,000 tasks, where the loop's budget is 10 ms.
2. Thermal delay rule (`forecast.retime`): each task, in order, starts at the earliest period at
   which its lane, heaters and dependencies are free *and* the compact model, started from the
   estimated state, keeps the hottest spot at or below the limit (max temperature - margin)
   over the task's run with everything already placed. Otherwise it waits for a placed task to
   end, or for the chip to cool. Tasks may also move earlier than planned when the chip runs
   cooler than predicted, which recovers makespan after a transient.

`budget_s` bounds the work; today's planner finishes well inside any budget the loop gives it
(about 3 ms for 1,000 tasks, see benchmarks/closed_loop.py), so it only records it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from photond.loop.observer import Estimate
from photond.planning.job_tables import JobForecast
from photond.planning.plan import Plan, PlannedTask, plan_list_schedule
from photond.planning.retime import retime
from photond.rpc.validation import CheckedGraph

PLANNER_NAME = "thermal-retime"
# Periods a task waits for the chip to cool when no placed task ends sooner.
_COOL_PERIODS = 10
# Longest a task waits for thermal room before it is placed anyway (and the peak says so).
_MAX_WAIT_S = 120.0


@dataclass(frozen=True)
class RunningTask:
    task_id: str
    lane_id: str
    ends_in_s: float


@dataclass(frozen=True)
class Remaining:
    """What is left of a job at `elapsed_s` after its start, and what the re-plan must respect.

    Attributes:
        tasks: ids of the tasks not yet started.
        running: tasks running now, with the time they still need.
        forecast: the job's task tables (graph, model) built at its start.
        elapsed_s: now, in seconds after the job's start (plan times are job-relative).
        warm_start: the current plan; its order and lanes are kept.
        limit_c: the hottest spot a new plan may reach (max temperature - margin).
    """

    tasks: tuple[str, ...]
    running: tuple[RunningTask, ...]
    forecast: JobForecast
    elapsed_s: float
    warm_start: Plan | None
    limit_c: float


def replan(
    remaining: Remaining, lanes: tuple[str, ...], estimate: Estimate, budget_s: float
) -> Plan:
    """A plan for the remaining tasks, in job-relative seconds, from the estimated state."""
    started = time.perf_counter()
    fc = remaining.forecast
    dt = fc.model.dt_s
    now_k = round(remaining.elapsed_s / dt)
    order_ids, lane_of = _order_and_lanes(remaining, lanes)
    lane_pos = {lane: k for k, lane in enumerate(lanes)}
    rows = np.array([fc.index[t] for t in order_ids], dtype=np.int64)
    local = {int(g): k for k, g in enumerate(rows)}
    lane_free = np.zeros(len(lanes), dtype=np.int64)
    heater_free = np.zeros(fc.model.heaters, dtype=np.int64)
    running_end: dict[int, int] = {}
    for r in remaining.running:
        g = fc.index[r.task_id]
        end = max(0, round(r.ends_in_s / dt))
        running_end[g] = end
        lane_free[lane_pos[r.lane_id]] = max(lane_free[lane_pos[r.lane_id]], end)
        heaters = fc.heater_idx[fc.heater_ptr[g] : fc.heater_ptr[g + 1]]
        heater_free[heaters] = np.maximum(heater_free[heaters], end)
    release = np.maximum(0, np.ceil(fc.release_s[rows] / dt - 1e-9).astype(np.int64) - now_k)
    dep_ptr, dep_idx = [0], []
    for k, g in enumerate(rows):
        for d in fc.deps[g]:
            if d in local:
                dep_idx.append(local[d])
            elif d in running_end:
                release[k] = max(release[k], running_end[d])
        dep_ptr.append(len(dep_idx))
    # Heaters as the kernel wants them: per local row, CSR.
    h_ptr = np.concatenate(([0], np.cumsum(fc.heater_ptr[rows + 1] - fc.heater_ptr[rows])))
    h_idx = np.concatenate(
        [np.zeros(0, dtype=np.int64)]
        + [fc.heater_idx[fc.heater_ptr[g] : fc.heater_ptr[g + 1]] for g in rows]
    )
    run_rows = np.array(list(running_end), dtype=np.int64)
    x0, base_in, base_feed = fc.base(estimate)
    start, peak = retime(
        fc.model.decay,
        fc.model.hotspot_out,
        x0,
        base_in,
        base_feed,
        remaining.limit_c,
        np.arange(len(rows), dtype=np.int64),
        fc.duration[rows],
        release,
        np.array([lane_pos[lane_of[t]] for t in order_ids], dtype=np.int64),
        lane_free,
        h_ptr.astype(np.int64),
        h_idx,
        heater_free,
        np.array(dep_ptr, dtype=np.int64),
        np.array(dep_idx, dtype=np.int64),
        np.ascontiguousarray(fc.task_in[rows]),
        np.ascontiguousarray(fc.task_feed[rows]),
        np.array([running_end[g] for g in run_rows], dtype=np.int64),
        np.ascontiguousarray(fc.task_in[run_rows]),
        np.ascontiguousarray(fc.task_feed[run_rows]),
        _COOL_PERIODS,
        round(_MAX_WAIT_S / dt),
    )
    tasks = fc.graph.tasks
    planned = []
    for k, g in enumerate(rows):
        start_s = (now_k + int(start[k])) * dt
        planned.append(
            PlannedTask(tasks[g].id, lane_of[tasks[g].id], start_s, start_s + tasks[g].duration_s)
        )
    planned.sort(key=lambda p: (p.start_s, p.task_id))
    warm = remaining.warm_start
    return Plan(
        tasks=tuple(planned),
        makespan_s=max((p.end_s for p in planned), default=remaining.elapsed_s),
        lower_bound_s=warm.lower_bound_s if warm is not None else 0.0,
        planner=PLANNER_NAME,
        planning_time_s=time.perf_counter() - started,
        predicted_peak_temperature_c=float(peak) if len(rows) else 0.0,
    )


def _order_and_lanes(
    remaining: Remaining, lanes: tuple[str, ...]
) -> tuple[list[str], dict[str, str]]:
    """The warm start's order and lanes for the remaining tasks (list planner without one)."""
    left = set(remaining.tasks)
    warm = remaining.warm_start
    known = [p for p in warm.tasks if p.task_id in left] if warm is not None else []
    if len(known) == len(left):
        known.sort(key=lambda p: (p.start_s, p.task_id))
        return [p.task_id for p in known], {p.task_id: p.lane_id for p in known}
    tasks = remaining.forecast.graph.tasks
    sub = tuple(
        dataclasses.replace(t, depends_on=tuple(d for d in t.depends_on if d in left))
        for t in tasks
        if t.id in left
    )
    plan = plan_list_schedule(CheckedGraph(sub), lanes)
    return [p.task_id for p in plan.tasks], {p.task_id: p.lane_id for p in plan.tasks}
