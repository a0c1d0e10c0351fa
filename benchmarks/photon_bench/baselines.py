"""Baseline (a): thermal-unaware list scheduling, executed with reactive throttling.

This is what a lab gets without a thermal-aware planner: dispatch tasks greedily (the old list
planner's rule: among ready tasks, higher priority, then earlier deadline, then longer, then
given order; on any free allowed lane with its heaters free) and let a thermald/DCGM-style
governor watch the temperature: above `limit - hysteresis` it pauses dispatch (running tasks run
on), and it resumes once the hottest sensor is back below `limit - 2·hysteresis`. It is
executed tick by tick on the compact model, so it reacts to the temperature it would read.
Baseline (b), the greedy thermal-aware decoder alone, is `Level.FAST`.
"""

from __future__ import annotations

import math

import numpy as np

from photond.planning.bounds import lower_bound_s
from photond.planning.device_plan import DeviceThermal, graph_instance
from photond.planning.graph import CheckedGraph
from photond.planning.plan import Plan, PlannedTask

DEFAULT_HYSTERESIS_C = 2.0
BASELINE_NAME = "list-scheduling+throttling"


def throttled_list_schedule(
    graph: CheckedGraph, device: DeviceThermal, hysteresis_c: float = DEFAULT_HYSTERESIS_C
) -> Plan:
    """Execute greedy list scheduling under reactive throttling; return what actually ran."""
    model, profile = device.compact, device.profile
    built = graph_instance(graph, device, thermal=False)
    inst = built.instance
    tasks = graph.tasks
    n = len(tasks)
    lanes = built.lane_ids
    index = {t.id: i for i, t in enumerate(tasks)}
    dur = [int(d) for d in inst.duration]
    release = [int(r) for r in inst.release]
    waiting = [len(t.depends_on) for t in tasks]
    dependants: list[list[int]] = [[] for _ in tasks]
    for i, t in enumerate(tasks):
        for d in t.depends_on:
            dependants[index[d]].append(i)
    rank = sorted(
        range(n),
        key=lambda i: (
            -tasks[i].priority,
            tasks[i].deadline_s or math.inf,
            -tasks[i].duration_s,
            i,
        ),
    )
    order_pos = {i: k for k, i in enumerate(rank)}
    ready = sorted((i for i in range(n) if waiting[i] == 0), key=order_pos.__getitem__)
    lane_free = dict.fromkeys(lanes, 0)
    heater_free: dict[str, int] = {}
    start = [-1] * n
    lane_of = [""] * n
    running: list[int] = []
    readout, feedthrough = model.output_matrices("sensors")
    z = np.zeros(model.modes)
    power = np.zeros(len(model.heater_ids))
    heater_index = {h: k for k, h in enumerate(model.heater_ids)}
    pause_c = profile.limits.max_device_temperature_c - hysteresis_c
    resume_c = pause_c - hysteresis_c
    paused = False
    hottest_c = model.ambient_c
    done = 0
    tick = 0
    while done < n:
        for i in [i for i in running if start[i] + dur[i] <= tick]:
            running.remove(i)
            done += 1
            for h, p in tasks[i].heater_power_mw.items():
                power[heater_index[h]] -= p
            for j in dependants[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    ready.append(j)
            ready.sort(key=order_pos.__getitem__)
        paused = hottest_c >= resume_c if paused else hottest_c >= pause_c
        if not paused:
            for i in list(ready):
                if release[i] > tick:
                    continue
                allowed = tasks[i].allowed_lanes or lanes
                lane = next((lane for lane in allowed if lane_free[lane] <= tick), None)
                heaters = tasks[i].heater_power_mw
                if lane is None or any(heater_free.get(h, 0) > tick for h in heaters):
                    continue
                ready.remove(i)
                start[i], lane_of[i] = tick, lane
                lane_free[lane] = tick + dur[i]
                for h, p in heaters.items():
                    heater_free[h] = tick + dur[i]
                    power[heater_index[h]] += p
                if dur[i] == 0:
                    done += 1
                    for j in dependants[i]:
                        waiting[j] -= 1
                        if waiting[j] == 0:
                            ready.append(j)
                    ready.sort(key=order_pos.__getitem__)
                else:
                    running.append(i)
        z = model.decay * z + model.step_input_per_mw @ power
        hottest_c = model.ambient_c + float((readout @ z + feedthrough @ power).max())
        tick += 1
    dt = model.dt_s
    placed = sorted(
        (
            PlannedTask(t.id, lane_of[i], start[i] * dt, start[i] * dt + t.duration_s)
            for i, t in enumerate(tasks)
        ),
        key=lambda p: (p.start_s, p.task_id),
    )
    return Plan(
        tasks=tuple(placed),
        makespan_s=max(p.end_s for p in placed),
        lower_bound_s=lower_bound_s(inst, built.duration_s, built.release_s),
        planner=BASELINE_NAME,
        planning_time_s=0.0,
    )
