"""The optimizer's own problem form: tasks in integer ticks, precedence, resources, heat.

Every source of work — a daemon task graph, a PSPLIB RCPSP instance, an STG graph — is turned
into one `Instance` of plain numpy arrays, so the numba decoder and search see a single shape:

* time is an integer number of ticks (1 unit for the benchmark sets, the thermal model's
  control period for the daemon), so resource profiles are arrays indexed by tick;
* precedence is compressed sparse rows of predecessors and successors;
* resources are renewable capacities with per-task demands (RCPSP resources, STG processors,
  a pool of interchangeable lanes, or one heater that only one task may drive at a time);
* *explicit lanes* are capacity-one lanes of which a task picks one from its allowed mask — used
  only when some task may not run on every lane, because a pooled resource is faster;
* `thermal` (optional) holds what the decoder needs to predict temperatures by superposition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class DriftTables:
    """Drift-sensitive tasks' heaters, for the decoder's drift rule (docs/optimizer.md §2).

    Attributes:
        ptr, watch, limit_k: CSR rows per task of (watched heater column, largest change in
            K of that heater's footprint temperature, caused by anything but the task itself,
            that the task's drift tolerance allows). Tasks without a tolerance have none.
        watch_readout: (watched heaters, modes) footprint rise per modal amplitude, K.
        task_watch_feed: (tasks, watched heaters) instantaneous footprint rise while a task
            runs, K.
    """

    ptr: IntArray
    watch: IntArray
    limit_k: FloatArray
    watch_readout: FloatArray
    task_watch_feed: FloatArray


@dataclass(frozen=True)
class ThermalTables:
    """The compact model, folded per task, for the decoder's thermal check.

    Attributes:
        decay: (modes,) per-tick decay of each kept mode.
        task_input: (tasks, modes) modal input per tick while the task runs (B·p, ZOH-exact).
        task_feed: (tasks, points) instantaneous rise (D·p) at each limit point while the task
            runs, K (the limit points: every heater's footprint, then every sensor).
        readout: (points, modes) rise at each limit point per modal amplitude, K.
        pair_first, pair_second, pair_inv_distance_per_mm: neighbouring sensor pairs, indexed
            into the limit points.
        max_rise_k: the largest allowed rise above ambient at any limit point (limit - margin).
        max_gradient_c_per_mm: the largest allowed neighbour gradient.
        tail_ticks: ticks checked after the last power change (the fast modes' settling).
        initial_modes: (modes,) modal state at tick 0 (the device's present thermal state).
        has_power: (tasks,) whether a task heats at all; unpowered tasks skip the check.
        drift: present when some task tolerates only so much phase drift.
        ambient_c: the model's ambient, to turn rises into temperatures (aging).
    """

    decay: FloatArray
    task_input: FloatArray
    task_feed: FloatArray
    readout: FloatArray
    pair_first: IntArray
    pair_second: IntArray
    pair_inv_distance_per_mm: FloatArray
    max_rise_k: float
    max_gradient_c_per_mm: float
    tail_ticks: int
    initial_modes: FloatArray
    has_power: BoolArray
    drift: DriftTables | None = None
    ambient_c: float = 25.0


@dataclass(frozen=True)
class Instance:
    """A scheduling problem in ticks; see the module docstring.

    Attributes:
        names: task names (for reports and errors).
        duration: (n,) ticks a task occupies its resources.
        release: (n,) earliest start tick.
        pred_ptr, pred_idx / succ_ptr, succ_idx: precedence as CSR rows.
        capacity: (resources,) renewable capacities.
        dem_ptr, dem_res, dem_amt: CSR rows of (resource, amount) per task.
        lane_mask: (n, lanes) allowed explicit lanes; lanes = 0 when lanes are pooled or absent.
        priority: (n,) higher goes first among equals in the seed rule.
        tick_s: seconds per tick.
        thermal: present when temperatures must be checked.
    """

    names: tuple[str, ...]
    duration: IntArray
    release: IntArray
    pred_ptr: IntArray
    pred_idx: IntArray
    succ_ptr: IntArray
    succ_idx: IntArray
    capacity: IntArray
    dem_ptr: IntArray
    dem_res: IntArray
    dem_amt: IntArray
    lane_mask: BoolArray
    priority: IntArray
    tick_s: float = 1.0
    thermal: ThermalTables | None = field(default=None)

    @property
    def n(self) -> int:
        return int(self.duration.shape[0])

    @property
    def lanes(self) -> int:
        return int(self.lane_mask.shape[1])

    def predecessors(self, i: int) -> IntArray:
        return self.pred_idx[self.pred_ptr[i] : self.pred_ptr[i + 1]]

    def successors(self, i: int) -> IntArray:
        return self.succ_idx[self.succ_ptr[i] : self.succ_ptr[i + 1]]

    def demands(self, i: int) -> list[tuple[int, int]]:
        lo, hi = self.dem_ptr[i], self.dem_ptr[i + 1]
        pairs = zip(self.dem_res[lo:hi], self.dem_amt[lo:hi], strict=True)
        return [(int(r), int(a)) for r, a in pairs]


def csr_from_pairs(row: IntArray, col: IntArray, rows: int) -> tuple[IntArray, IntArray]:
    """CSR (pointers, columns sorted within a row, duplicates dropped) of (row, col) pairs."""
    key = np.unique(np.asarray(row, dtype=np.int64) * max(rows, 1) + np.asarray(col))
    row_of, col_of = np.divmod(key, max(rows, 1))
    ptr = np.zeros(rows + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(row_of, minlength=rows))
    return ptr, col_of.astype(np.int64)


def build_instance(
    names: Sequence[str],
    duration: Sequence[int],
    predecessors: Sequence[Sequence[int]],
    capacity: Sequence[int],
    demands: Sequence[Sequence[tuple[int, int]]],
    *,
    release: Sequence[int] | None = None,
    lane_mask: BoolArray | None = None,
    priority: Sequence[int] | None = None,
    tick_s: float = 1.0,
    thermal: ThermalTables | None = None,
) -> Instance:
    """Assemble an `Instance` from per-task lists (see `instance_from_arrays`).

    Raises:
        ValueError: a demand exceeds its resource's capacity (no schedule could exist).
    """
    edge_task = [i for i, preds in enumerate(predecessors) for _ in preds]
    edge_pred = [p for preds in predecessors for p in preds]
    dem_task = [i for i, row in enumerate(demands) for _ in row]
    pairs = [pair for row in demands for pair in row]
    return instance_from_arrays(
        names,
        np.asarray(duration, dtype=np.int64),
        np.asarray(edge_pred, dtype=np.int64),
        np.asarray(edge_task, dtype=np.int64),
        np.asarray(capacity, dtype=np.int64).reshape(-1),
        np.asarray(dem_task, dtype=np.int64),
        np.asarray([r for r, _ in pairs], dtype=np.int64),
        np.asarray([a for _, a in pairs], dtype=np.int64),
        release=None if release is None else np.asarray(release, dtype=np.int64),
        lane_mask=lane_mask,
        priority=None if priority is None else np.asarray(priority, dtype=np.int64),
        tick_s=tick_s,
        thermal=thermal,
    )


def instance_from_arrays(
    names: Sequence[str],
    duration: IntArray,
    edge_from: IntArray,
    edge_to: IntArray,
    capacity: IntArray,
    demand_task: IntArray,
    demand_resource: IntArray,
    demand_amount: IntArray,
    *,
    release: IntArray | None = None,
    lane_mask: BoolArray | None = None,
    priority: IntArray | None = None,
    tick_s: float = 1.0,
    thermal: ThermalTables | None = None,
) -> Instance:
    """Assemble an `Instance` from flat arrays: precedence edges `edge_from` -> `edge_to`
    (duplicates allowed) and demand triples (task, resource, amount; zeros dropped).

    Array in, array out, so that a 100k-task graph converts in milliseconds.

    Raises:
        ValueError: a demand exceeds its resource's capacity (no schedule could exist).
    """
    n = int(duration.shape[0])
    pred_ptr, pred_idx = csr_from_pairs(edge_to, edge_from, n)
    succ_ptr, succ_idx = csr_from_pairs(edge_from, edge_to, n)
    keep = demand_amount > 0
    demand_task, demand_resource = demand_task[keep], demand_resource[keep]
    demand_amount = demand_amount[keep]
    over = np.flatnonzero(demand_amount > capacity[demand_resource])
    if over.size:
        k = int(over[0])
        r = int(demand_resource[k])
        raise ValueError(
            f"task {names[int(demand_task[k])]!r} needs {int(demand_amount[k])} of resource "
            f"{r}, capacity {int(capacity[r])}"
        )
    # Rows in task order, resources ascending within a row (a stable sort keeps amounts aligned).
    by_row = np.lexsort((demand_resource, demand_task))
    dem_ptr = np.zeros(n + 1, dtype=np.int64)
    dem_ptr[1:] = np.cumsum(np.bincount(demand_task, minlength=n))
    return Instance(
        names=tuple(names),
        duration=np.asarray(duration, dtype=np.int64),
        release=release if release is not None else np.zeros(n, dtype=np.int64),
        pred_ptr=pred_ptr,
        pred_idx=pred_idx,
        succ_ptr=succ_ptr,
        succ_idx=succ_idx,
        capacity=capacity,
        dem_ptr=dem_ptr,
        dem_res=np.ascontiguousarray(demand_resource[by_row]),
        dem_amt=np.ascontiguousarray(demand_amount[by_row]),
        lane_mask=lane_mask if lane_mask is not None else np.zeros((n, 0), dtype=np.bool_),
        priority=priority if priority is not None else np.zeros(n, dtype=np.int64),
        tick_s=tick_s,
        thermal=thermal,
    )
