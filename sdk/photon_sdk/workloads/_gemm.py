"""A workload as the chip sees it: matrix products (GEMMs) in dataflow order.

Every layer a photonic mesh can run is a product Y = X · W: M input vectors (rows of X) of K
values each, times a K x N matrix. A convolution is one after im2col (K = C_in · kh · kw,
M = output positions); a linear layer is one with M = tokens; an attention matmul is one whose
"weight" is an activation (Kᵀ or V of one head). `Workload` keeps the GEMMs in an order where
each comes after the GEMMs it reads (`after`), which is all the mapping needs for dependencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["Gemm", "Workload", "WorkloadError", "from_gemms"]

Operand = Literal["weight", "activation"]


class WorkloadError(ValueError):
    """A workload or its mapping onto a device is malformed; the message names the field."""


@dataclass(frozen=True, eq=False)
class Gemm:
    """One matrix product Y (M x N) = X (M x K) · W (K x N), repeated ``batch`` times.

    Attributes:
        name: unique within the workload; task ids start with it.
        m: input vectors streamed through each programmed tile (tokens, output pixels).
        k: values per input vector (rows of W).
        n: values per output vector (columns of W).
        batch: independent products of the same shape with different matrices (attention
            heads), all reading the same predecessors.
        after: names of the GEMMs whose outputs this one reads; ``None`` means the GEMM listed
            just before (none for the first).
        weights: the K x N matrix (or ``batch`` x K x N), when known (ONNX initialisers);
            ``None``: seeded random at mapping time (docs/workloads.md).
        operand: ``"weight"`` for a trained matrix, ``"activation"`` for one computed at run
            time (attention's Kᵀ and V), which is drawn differently when not given.
    """

    name: str
    m: int
    k: int
    n: int
    batch: int = 1
    after: tuple[str, ...] | None = None
    weights: NDArray[np.float64] | None = field(default=None, repr=False)
    operand: Operand = "weight"

    @property
    def weight_count(self) -> int:
        """Matrix entries programmed onto the mesh (K · N · batch)."""
        return self.k * self.n * self.batch

    def tiles(self, mesh_size: int) -> int:
        """Mesh-sized tiles of W (zero-padded to a multiple of the mesh size), all batches."""
        return _ceil_div(self.k, mesh_size) * _ceil_div(self.n, mesh_size) * self.batch


@dataclass(frozen=True, eq=False)
class Workload:
    """Named GEMMs in dataflow order; build one with :func:`from_gemms` or a model function."""

    name: str
    gemms: tuple[Gemm, ...]

    @property
    def weight_count(self) -> int:
        return sum(g.weight_count for g in self.gemms)

    def tiles(self, mesh_size: int) -> int:
        return sum(g.tiles(mesh_size) for g in self.gemms)

    def first(self, count: int) -> Workload:
        """The first ``count`` GEMMs (``photonctl submit --layers N``): a prefix stays closed
        under `after`, because every GEMM comes after the ones it reads."""
        if count < 1:
            raise WorkloadError(f"layers: must be at least 1, got {count}")
        return replace(self, gemms=self.gemms[:count])

    def predecessors(self) -> dict[str, tuple[str, ...]]:
        """Each GEMM's resolved `after` (the previous GEMM when ``None``)."""
        resolved: dict[str, tuple[str, ...]] = {}
        previous: tuple[str, ...] = ()
        for gemm in self.gemms:
            resolved[gemm.name] = previous if gemm.after is None else gemm.after
            previous = (gemm.name,)
        return resolved


def from_gemms(gemms: Iterable[Gemm | Sequence[object]], *, name: str = "gemms") -> Workload:
    """Build a workload from GEMMs listed in dataflow order, and check it.

    Each item is a :class:`Gemm` or a tuple ``(name, m, k, n)``. Raises
    :class:`WorkloadError` naming the GEMM for an empty list, duplicate names, a dimension
    below 1, an `after` naming a GEMM not listed before it, or weights of the wrong shape.

    Example::

        w = from_gemms([("fc1", 1, 784, 256), ("fc2", 1, 256, 10)], name="mlp")
    """
    built = tuple(g if isinstance(g, Gemm) else _gemm_from_tuple(g) for g in gemms)
    if not built:
        raise WorkloadError("gemms: a workload needs at least one GEMM")
    seen: set[str] = set()
    for i, gemm in enumerate(built):
        where = f"gemms[{i}] ({gemm.name!r})"
        if not gemm.name:
            raise WorkloadError(f"gemms[{i}].name: must not be empty")
        if gemm.name in seen:
            raise WorkloadError(f"{where}.name: duplicate GEMM name")
        for dim in ("m", "k", "n", "batch"):
            value = getattr(gemm, dim)
            if not isinstance(value, int) or value < 1:
                raise WorkloadError(f"{where}.{dim}: must be an integer >= 1, got {value!r}")
        for dep in gemm.after or ():
            if dep not in seen:
                raise WorkloadError(f"{where}.after: {dep!r} is not a GEMM listed before this one")
        if gemm.weights is not None:
            expected = (gemm.k, gemm.n) if gemm.batch == 1 else (gemm.batch, gemm.k, gemm.n)
            if tuple(gemm.weights.shape) not in {expected, (gemm.batch, gemm.k, gemm.n)}:
                raise WorkloadError(
                    f"{where}.weights: shape {tuple(gemm.weights.shape)}, expected {expected}"
                )
            if not np.all(np.isfinite(gemm.weights)):
                raise WorkloadError(f"{where}.weights: must be finite numbers")
        seen.add(gemm.name)
    return Workload(name=name, gemms=built)


def _gemm_from_tuple(item: Sequence[object]) -> Gemm:
    if len(item) != 4:
        raise WorkloadError(f"gemms: expected (name, m, k, n), got {item!r}")
    name, m, k, n = item
    return Gemm(name=str(name), m=m, k=k, n=n)  # type: ignore[arg-type]  # checked by caller


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
