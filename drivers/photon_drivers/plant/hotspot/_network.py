"""The plant's RC network: what the block and grid builders produce and the solvers consume.

A network is heat capacities on nodes, symmetric conductances between nodes and conductances
from nodes to ambient, plus two linear maps that tie it to the floorplan: `power_injection`
spreads block powers over nodes, `block_readout` turns node temperatures back into block
temperatures. Keeping it as plain matrices (no solver inside) lets the simulated chip, the
compact model and the benchmarks all start from the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: HotSpot's lumped-capacitance fitting factor (`C_FACTOR` in temperature.h).
C_FACTOR = 0.333

#: The 12 package nodes in HotSpot's order (they print as inode_0 … inode_11).
RING_NODES = (
    "SP_W", "SP_E", "SP_N", "SP_S",
    "SINK_C_W", "SINK_C_E", "SINK_C_N", "SINK_C_S",
    "SINK_W", "SINK_E", "SINK_N", "SINK_S",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class PlantNetwork:
    """A linear thermal RC network tied to a floorplan.

    With T the node temperatures (K), T_amb the ambient and p the block powers (W):
    C·dT/dt = B·p - L·(T - T_amb), where L = diag(G·1 + g_amb) - G.

    Attributes:
        model: "block" or "grid".
        node_names: one per node; for the grid model the first layers·rows·cols nodes are
            cells in (layer, row, col) order, row 0 at the top of the die.
        capacitance_j_per_k: (n,) heat capacity of each node.
        conductance_w_per_k: (n, n) sparse symmetric node-to-node conductances, zero diagonal.
        to_ambient_w_per_k: (n,) conductance of each node to ambient.
        block_names: the blocks that take power, in the column order of `power_injection`.
        power_injection: (n, blocks) sparse; node heat input (W) = power_injection @ p.
        block_readout: (blocks, n) sparse; block temperatures = block_readout @ T.
        report_names, report_readout: the rows of HotSpot's `.steady` for this model (every
            layer's blocks, then inode_0…11) and the (rows, n) sparse map that produces them.
        grid_shape: (layers, rows, cols) for the grid model, None for the block model.
        ambient_k: the ambient temperature the network was built for.
    """

    model: str
    node_names: tuple[str, ...]
    capacitance_j_per_k: FloatArray
    conductance_w_per_k: Any  # scipy.sparse.csr_matrix
    to_ambient_w_per_k: FloatArray
    block_names: tuple[str, ...]
    power_injection: Any
    block_readout: Any
    report_names: tuple[str, ...]
    report_readout: Any
    grid_shape: tuple[int, int, int] | None
    ambient_k: float
    _laplacian: list[Any] = field(default_factory=list, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.capacitance_j_per_k)

    def system_matrix(self) -> Any:
        """L = diag(G·1 + g_amb) - G as a sparse CSC matrix (symmetric positive definite)."""
        if not self._laplacian:
            g = self.conductance_w_per_k
            diag = np.asarray(g.sum(axis=1)).ravel() + self.to_ambient_w_per_k
            self._laplacian.append(sp.csc_matrix(sp.diags(diag) - g))
        return self._laplacian[0]

    def node_power_w(self, power_w: FloatArray) -> FloatArray:
        """Spread block powers (W, in `block_names` order) over the nodes."""
        p = np.asarray(power_w, dtype=np.float64)
        if p.shape != (len(self.block_names),):
            raise ValueError(f"expected {len(self.block_names)} block powers, got shape {p.shape}")
        return np.asarray(self.power_injection @ p, dtype=np.float64)


class NetworkAssembler:
    """Collects capacitances and conductances by node index, then emits sparse matrices.

    Conductances added twice between the same pair add up (parallel paths), which is what
    both the block and the grid builder want.
    """

    def __init__(self, n_nodes: int) -> None:
        self.capacitance = np.zeros(n_nodes)
        self.to_ambient = np.zeros(n_nodes)
        self._rows: list[NDArray[np.int64]] = []
        self._cols: list[NDArray[np.int64]] = []
        self._vals: list[FloatArray] = []

    def connect(self, a: Any, b: Any, conductance_w_per_k: Any) -> None:
        """Add conductances between node(s) a and b (scalars or equal-length arrays)."""
        a_arr, b_arr, g_arr = np.broadcast_arrays(
            np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64),
            np.asarray(conductance_w_per_k, dtype=np.float64),
        )  # fmt: skip
        if np.any(g_arr < 0) or np.any(a_arr == b_arr):
            raise ValueError("conductances must be >= 0 and join distinct nodes")
        self._rows += [a_arr.ravel(), b_arr.ravel()]
        self._cols += [b_arr.ravel(), a_arr.ravel()]
        self._vals += [g_arr.ravel(), g_arr.ravel()]

    def conductance_matrix(self) -> Any:
        n = len(self.capacitance)
        if not self._rows:
            return sp.csr_matrix((n, n))
        g = sp.coo_matrix(
            (np.concatenate(self._vals), (np.concatenate(self._rows), np.concatenate(self._cols))),
            shape=(n, n),
        )
        return sp.csr_matrix(g)  # duplicates are summed
