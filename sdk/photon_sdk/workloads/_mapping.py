"""Map a workload onto a device: tiles, their heater powers, tasks and dependencies.

docs/workloads.md §2-§4 states every assumption with its source; in short:

* each GEMM's W (K x N_out) is cut into N x N tiles (N: the device's mesh size; edges
  zero-padded); for Y = X·W the mesh applies a tile T as the matrix M = Tᵀ (outputs x inputs);
* M = U Σ V† (SVD): the single mesh is programmed with V†, the tile's M input vectors stream
  through it, then with U and the Σ-scaled intermediate vectors stream again (Σ is applied by
  the input modulators of the second pass); each pass is one mesh setting;
* a setting costs ``settle_s`` (the shifters settle) plus the time to stream the vectors,
  ⌈M / wavelength lanes⌉ symbols at ``symbol_rate_hz`` (WDM: each wavelength channel carries
  its own vectors through the same setting);
* a task is ``tiles_per_task`` consecutive tiles of one GEMM; its heater power is the mean over
  its settings (they change every ~10 µs, far faster than the fastest thermal mode the planner
  resolves), its duration their sum;
* a zero-duration task named after the GEMM marks its partial products accumulated; the tasks
  of a GEMM wait for those of the GEMMs it reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from ..graph import TaskGraph
from ._gemm import Gemm, Workload, WorkloadError
from ._mesh import DeviceLike, Mesh
from .clements import decompose

__all__ = [
    "DEFAULT_SETTLE_S",
    "DEFAULT_SYMBOL_RATE_HZ",
    "DEFAULT_TILES_PER_TASK",
    "tile_powers_mw",
    "to_task_graph",
]

# Tiles per task: ~10 ms of work at the defaults below, one control period of the daemon (a
# task's time is rounded up to whole periods), and ResNet-50 in ~800 tasks.
DEFAULT_TILES_PER_TASK = 480
# Thermo-optic shifters settle in microseconds (metal heaters on SOI: rise and fall times of
# a few to tens of µs, Liu et al., Front. Optoelectron. 15, 9 (2022), review tables).
DEFAULT_SETTLE_S = 10e-6
# Input vectors enter through modulators at 10 GBd per wavelength channel (silicon
# Mach-Zehnder modulators run at 25-50 GBd; 10 GBd is a conservative figure).
DEFAULT_SYMBOL_RATE_HZ = 10e9
# Tiles decomposed per numpy batch: bounded memory for GEMMs of millions of tiles.
_CHUNK_TILES = 4096


def to_task_graph(
    workload: Workload,
    device: DeviceLike,
    *,
    tiles_per_task: int = DEFAULT_TILES_PER_TASK,
    settle_s: float = DEFAULT_SETTLE_S,
    symbol_rate_hz: float = DEFAULT_SYMBOL_RATE_HZ,
    drift_tolerance_rad: float = 0.0,
    seed: int = 0,
    name: str | None = None,
) -> TaskGraph:
    """Return the task graph that runs ``workload`` on ``device``.

    Args:
        device: an SDK ``Device`` (``client.describe_device(...)``) or a driver profile.
        tiles_per_task: mesh tiles per task (the grouping, docs/workloads.md §4).
        settle_s: time for the mesh's shifters to settle after each new setting.
        symbol_rate_hz: input vectors per second per wavelength channel.
        drift_tolerance_rad: each task's tolerance to phase drift (0: none).
        seed: seeds the random weights of GEMMs given without them.
        name: the graph's name (default: the workload's).

    Raises:
        WorkloadError: a parameter out of range, a device that is no N x N heater grid, or a
            tile whose phases its heaters cannot reach.
    """
    if not isinstance(tiles_per_task, int) or tiles_per_task < 1:
        raise WorkloadError(f"tiles_per_task: an integer >= 1, got {tiles_per_task!r}")
    for field, value in (("settle_s", settle_s), ("symbol_rate_hz", symbol_rate_hz)):
        if not (math.isfinite(value) and value > 0):
            raise WorkloadError(f"{field}: a positive number, got {value!r}")
    if not (math.isfinite(drift_tolerance_rad) and drift_tolerance_rad >= 0):
        raise WorkloadError(f"drift_tolerance_rad: >= 0, got {drift_tolerance_rad!r}")
    mesh = Mesh.from_device(device)
    lanes = max(1, len(mesh.wavelength_lanes))
    graph = TaskGraph(name=workload.name if name is None else name)
    after = workload.predecessors()
    for index, gemm in enumerate(workload.gemms):
        stream_s = math.ceil(gemm.m / lanes) / symbol_rate_hz
        setting_s = settle_s + stream_s
        rng = np.random.default_rng([seed, index])
        task_ids = []
        for t, (power_mw, tiles) in enumerate(_task_powers(gemm, mesh, tiles_per_task, rng)):
            task_id = f"{gemm.name}#{t}"
            task_ids.append(task_id)
            graph.add_task(
                task_id,
                duration_s=2 * tiles * setting_s,
                heater_power_mw={
                    h: round(float(p), 6)
                    for h, p in zip(mesh.heater_ids, power_mw, strict=True)
                    if p > 0
                },
                depends_on=after[gemm.name],
                drift_tolerance_rad=drift_tolerance_rad,
            )
        # The GEMM's output is complete when every partial product is accumulated.
        graph.add_task(gemm.name, duration_s=0.0, depends_on=task_ids)
    return graph


def tile_powers_mw(tiles: NDArray[np.float64], mesh: Mesh) -> NDArray[np.float64]:
    """Heater powers (tiles, 2, heaters) of each N x N tile's two settings, V† then U.

    ``tiles`` is (count, N, N), each the matrix the mesh applies (outputs x inputs).
    """
    u, _, vh = np.linalg.svd(tiles)
    first = mesh.powers_mw(decompose(vh))
    second = mesh.powers_mw(decompose(u))
    return np.stack([first, second], axis=1)


def _task_powers(
    gemm: Gemm, mesh: Mesh, tiles_per_task: int, rng: np.random.Generator
) -> Iterator[tuple[NDArray[np.float64], int]]:
    """Yield (mean heater power, tile count) of each task of one GEMM, in tile order.

    Tiles go through the SVD and decomposition in chunks of _CHUNK_TILES whatever the
    grouping (small numpy batches cost more per tile), then are summed per task.
    """
    total = gemm.tiles(mesh.size)
    tasks = -(-total // tiles_per_task)
    sums = np.zeros((tasks, len(mesh.heater_ids)))
    blocks = None if gemm.weights is None else _weight_blocks(gemm, mesh.size)
    for lo in range(0, total, _CHUNK_TILES):
        hi = min(lo + _CHUNK_TILES, total)
        per_tile = tile_powers_mw(_tiles(gemm, mesh.size, lo, hi, blocks, rng), mesh).sum(axis=1)
        task_of = np.arange(lo, hi) // tiles_per_task
        starts = np.flatnonzero(np.r_[True, task_of[1:] != task_of[:-1]])
        sums[task_of[starts]] += np.add.reduceat(per_tile, starts, axis=0)
    counts = np.minimum(tiles_per_task, total - np.arange(tasks) * tiles_per_task)
    for task_sum, count in zip(sums, counts, strict=True):
        yield task_sum / (2 * count), int(count)


def _weight_blocks(gemm: Gemm, n: int) -> NDArray[np.float64]:
    """A GEMM's given weights, zero-padded, as (batch, in blocks, N, out blocks, N)."""
    assert gemm.weights is not None
    k_blocks, n_blocks = -(-gemm.k // n), -(-gemm.n // n)
    padded = np.zeros((gemm.batch, k_blocks * n, n_blocks * n))
    padded[:, : gemm.k, : gemm.n] = gemm.weights.reshape(gemm.batch, gemm.k, gemm.n)
    return padded.reshape(gemm.batch, k_blocks, n, n_blocks, n)


def _tiles(
    gemm: Gemm,
    n: int,
    lo: int,
    hi: int,
    blocks: NDArray[np.float64] | None,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Tiles lo..hi-1 of a GEMM as the matrices the mesh applies (count, N, N).

    Tile order: batch, then output block, then input block (a task covers consecutive input
    blocks of one output block where it can). Random tiles are drawn in this order, so the
    weights of a GEMM given without them depend only on the seed and its place in the workload.
    """
    k_blocks, n_blocks = -(-gemm.k // n), -(-gemm.n // n)
    index = np.arange(lo, hi)
    batch, rest = np.divmod(index, n_blocks * k_blocks)
    out_block, in_block = np.divmod(rest, k_blocks)
    if blocks is not None:
        tiles = blocks[batch, in_block, :, out_block, :]  # (count, in, out)
    else:
        # He (Kaiming) normal for weights, std sqrt(2 / fan_in); unit normal for activations.
        # Only the distribution's shape matters: the SVD's U and V do not change with scale.
        std = math.sqrt(2.0 / gemm.k) if gemm.operand == "weight" else 1.0
        tiles = rng.normal(0.0, std, size=(hi - lo, n, n))
        rows = in_block[:, None] * n + np.arange(n) < gemm.k  # (count, in)
        cols = out_block[:, None] * n + np.arange(n) < gemm.n  # (count, out)
        tiles *= rows[:, :, None] & cols[:, None, :]
    result: NDArray[np.float64] = np.ascontiguousarray(np.swapaxes(tiles, 1, 2))
    return result
