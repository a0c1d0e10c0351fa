"""Lumped linear RC thermal networks, and the finite-volume one the simulated chip is built on.

A network is heat capacities C (J/K) on nodes, conductances between nodes and from nodes to
ambient (W/K). Temperatures are kept as the rise above ambient, so the equations are linear:
C x' = -G x + p.

Integration is exact for power that is constant over a step, not a numerical scheme. The
generalised eigenproblem G v = λ C v is solved once, at construction, through the symmetric
matrix C^-1/2 G C^-1/2 (numpy.linalg.eigh); each mode then decays as exp(-λ·dt) towards its
own steady state, so `advance` is exact for any dt and unconditionally stable. That matters
here because the system is stiff: the micrometre oxide layers under the heaters settle in
microseconds while the package takes seconds, and an explicit scheme would need microsecond
steps to play seconds of device time. Time constants are 1/λ — they come out of R and C, none
is typed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from photon_drivers.profile import DeviceProfile, ProfileError

FloatArray = NDArray[np.float64]

# λ·dt from which a mode counts as settled within a step (`RCNetwork.advance_modes`).
SETTLED_RATE_STEPS = 42.0


class RCNetwork:
    """A linear RC thermal network with exact, unconditionally stable time stepping.

    Args:
        capacitance_j_per_k: heat capacity of each node, all positive.
        conductance_w_per_k: n x n symmetric, non-negative coupling between nodes; the diagonal
            must be zero (a node's own term is assembled from its couplings and `to_ambient`).
            Dense or scipy sparse; kept sparse (a grid network couples each node to a few).
        to_ambient_w_per_k: conductance of each node to ambient, non-negative.

    Raises:
        ValueError: shapes disagree, a value is out of range, or some node has no conductive
            path to ambient (its temperature would grow without bound).
    """

    def __init__(
        self,
        capacitance_j_per_k: ArrayLike,
        conductance_w_per_k: ArrayLike | sp.sparray,
        to_ambient_w_per_k: ArrayLike,
    ) -> None:
        c = np.asarray(capacitance_j_per_k, dtype=np.float64)
        g_amb = np.asarray(to_ambient_w_per_k, dtype=np.float64)
        n = c.shape[0] if c.ndim == 1 else -1
        if sp.issparse(conductance_w_per_k):
            g = sp.csr_array(conductance_w_per_k, dtype=np.float64)
        else:
            dense = np.asarray(conductance_w_per_k, dtype=np.float64)
            g = sp.csr_array(dense) if dense.ndim == 2 else dense
        if n < 1 or g.shape != (n, n) or g_amb.shape != (n,):
            raise ValueError(
                f"shapes must be capacitances (n,), conductances (n, n), to-ambient (n,); got "
                f"{c.shape}, {g.shape}, {g_amb.shape}"
            )
        assert isinstance(g, sp.csr_array)
        if not (np.all(np.isfinite(c)) and np.all(c > 0)):
            raise ValueError("capacitances must be finite and positive")
        if not (np.all(np.isfinite(g.data)) and np.all(g.data >= 0) and not g.diagonal().any()):
            raise ValueError("conductances must be finite, non-negative, with a zero diagonal")
        if (abs(g - g.T) > 1e-12 * abs(g.T)).nnz:
            raise ValueError("conductance matrix must be symmetric (heat flows both ways alike)")
        if not (np.all(np.isfinite(g_amb)) and np.all(g_amb >= 0)):
            raise ValueError("conductances to ambient must be finite and non-negative")
        g = sp.csr_array(0.5 * (g + g.T))
        self.capacitance_j_per_k: FloatArray = c
        self._conductance = g
        self.to_ambient_w_per_k: FloatArray = g_amb
        # The Laplacian, symmetrised as C^-1/2 L C^-1/2, built dense in place: the one n x n
        # array of the construction besides the modes it decomposes into.
        scaled = -g.toarray()
        scaled[np.diag_indices(n)] = g.sum(axis=1) + g_amb
        inv_sqrt_c = 1.0 / np.sqrt(c)
        scaled *= inv_sqrt_c[:, None]
        scaled *= inv_sqrt_c[None, :]
        rates, modes = np.linalg.eigh(scaled)
        del scaled
        # A node cut off from ambient has a zero rate up to rounding; reject it rather than
        # integrate a temperature that can only climb.
        if rates[0] <= rates[-1] * 1e-13 or rates[0] <= 0:
            raise ValueError("some node has no conductive path to ambient")
        self._rates_per_s: FloatArray = rates
        # The one dense n x n matrix kept (the default chip's is 19 MB): node rise from modes.
        # Its transpose is the modal input of node powers (the eigenvectors are orthonormal in
        # C^-1/2 coordinates), and C times node rise, through the transpose, the modal state.
        modes *= inv_sqrt_c[:, None]
        self._modes_to_state: FloatArray = modes
        # 1/λ: a settled mode's gain (see `advance_modes`).
        self._inverse_rates_s: FloatArray = 1.0 / rates
        # The last step length, how many modes (the slowest) it leaves unsettled, and their
        # decay and gain: reused while the step is the same.
        self._step: tuple[float, int, FloatArray, FloatArray] = (math.nan, n, rates, rates)

    @property
    def conductance_w_per_k(self) -> FloatArray:
        """The node-to-node conductances, dense (a new array: the network keeps them sparse)."""
        return np.asarray(self._conductance.toarray())

    @property
    def sparse_conductance_w_per_k(self) -> sp.csr_array:
        """The node-to-node conductances as the network keeps them (do not modify)."""
        return self._conductance

    @property
    def node_count(self) -> int:
        return int(self._rates_per_s.shape[0])

    @property
    def rates_per_s(self) -> FloatArray:
        """Every mode's decay rate λ, ascending (do not modify)."""
        return self._rates_per_s

    @property
    def time_constants_s(self) -> FloatArray:
        """Every mode's time constant, longest first."""
        return np.asarray(1.0 / self._rates_per_s)

    def steady_state_rise_k(self, power_w: ArrayLike) -> FloatArray:
        """The rise above ambient each node settles to under constant node powers."""
        p = self._vector(power_w, "power_w")
        return self._modes_to_state @ ((self.power_to_modes @ p) / self._rates_per_s)

    def advance(self, rise_k: ArrayLike, power_w: ArrayLike, dt_s: float) -> FloatArray:
        """Return the rise after `dt_s` seconds of constant node powers, exactly."""
        z = self.to_modes(rise_k)
        return self.from_modes(self.advance_modes(z, self.modal_power(power_w), dt_s))

    # Modal coordinates: a simulator that keeps its state as modes pays O(n) per step instead
    # of two dense n x n products, and reads only the nodes it needs (`modes_to_state` rows).

    def to_modes(self, rise_k: ArrayLike) -> FloatArray:
        return self.power_to_modes @ (self.capacitance_j_per_k * self._vector(rise_k, "rise_k"))

    def from_modes(self, modes: FloatArray) -> FloatArray:
        return self._modes_to_state @ modes

    @property
    def modes_to_state(self) -> FloatArray:
        """(nodes, modes): node rise = modes_to_state @ modal state."""
        return self._modes_to_state

    @property
    def power_to_modes(self) -> FloatArray:
        """(modes, nodes): the modal input of node powers (W); a view of `modes_to_state`."""
        return self._modes_to_state.T

    def modal_power(self, power_w: ArrayLike) -> FloatArray:
        return self.power_to_modes @ self._vector(power_w, "power_w")

    def advance_modes(self, modes: FloatArray, modal_power: FloatArray, dt_s: float) -> FloatArray:
        """Advance a modal state by `dt_s` under constant modal power, exactly.

        A mode with λ·dt ≥ `SETTLED_RATE_STEPS` ends the step at its steady state, input/λ:
        what it held before is decayed to below 2^-60 of itself (e^-42), under a thousandth of
        a float64's resolution, and (1 - e^-λdt)/λ is 1/λ to the last bit. On the simulated
        chip at a 10 ms period that is 1,454 of its 1,548 modes, so a step computes the
        exponentials of the ~100 slow ones only: at real time every step's length differs,
        and the exponentials of all modes were most of the simulated device's cost.
        """
        if not (dt_s >= 0 and np.isfinite(dt_s)):
            raise ValueError(f"dt_s must be finite and non-negative, got {dt_s}")
        step_s, slow, decay, gain_s = self._step
        if dt_s != step_s:
            rates = self._rates_per_s  # ascending (eigh)
            if dt_s > 0:
                slow = int(np.searchsorted(rates, SETTLED_RATE_STEPS / dt_s))
            else:
                slow = rates.shape[0]
            decay = np.exp(-rates[:slow] * dt_s)
            # -expm1 keeps (1 - e^-λdt)/λ accurate for slow modes and short steps.
            gain_s = -np.expm1(-rates[:slow] * dt_s) / rates[:slow]
            self._step = (dt_s, slow, decay, gain_s)
        advanced = self._inverse_rates_s * modal_power
        advanced[:slow] = decay * modes[:slow] + gain_s * modal_power[:slow]
        return advanced

    def _vector(self, values: ArrayLike, name: str) -> FloatArray:
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (self.node_count,):
            raise ValueError(f"{name} must have shape ({self.node_count},), got {v.shape}")
        return v


@dataclass(frozen=True)
class ChipNetwork:
    """An RC network over a device's die and package, and how heaters and sensors map to it.

    Node numbering belongs to the builder; `top_nodes[row, col]` names the heater layer's cell
    at grid row `row` counted from the die's bottom edge, column `col` from its left edge.
    """

    network: RCNetwork
    heater_ids: tuple[str, ...]
    # (nodes, heaters): the fraction of each heater's power that enters each node.
    heater_injection: FloatArray
    # (sensors, nodes): a sensor reads this weighted sum of node temperatures.
    sensor_weights: FloatArray
    # (rows, cols): the top-layer node of each cell, where heaters sit.
    top_nodes: NDArray[np.intp]


def network_from_profile(profile: DeviceProfile) -> ChipNetwork:
    """Build the finite-volume network of a profile's die, layer stack and package.

    Each grid cell has one node per layer, at the layer's mid-plane. Neighbouring cells of a
    layer conduct laterally through k·t·(shared edge)/(centre distance); a cell's layers stack
    through the half-thicknesses t/(2·k·A) on either side of each interface; the bottom layer's
    cells all drain into one package node carrying the package's heat capacity. The package
    reaches ambient through whatever is left of `die_to_ambient_k_per_w` after the die's own
    vertical resistance, so uniform heating sees exactly the profile's figure from the top
    layer to ambient. The die's top surface to air (about 4000 K/W by natural convection) is
    neglected against that path.

    Heaters inject into the top layer, split over the cells their footprint (centred on the
    heater's position) covers. Sensors read the top layer, interpolated bilinearly between cell
    centres, because sensors on cell corners would otherwise depend on a tie-break.

    Raises:
        ProfileError: die_to_ambient_k_per_w is below the die's own vertical resistance.
    """
    rows, cols, layers = profile.grid_rows, profile.grid_cols, profile.layers
    cells = rows * cols
    dx_m, dy_m = profile.die_width_mm / cols * 1e-3, profile.die_height_mm / rows * 1e-3
    area_m2 = dx_m * dy_m
    n = len(layers) * cells + 1
    package = n - 1
    capacitance = np.empty(n)
    conductance = np.zeros((n, n))

    def couple(a: NDArray[np.intp], b: NDArray[np.intp] | int, g_w_per_k: float) -> None:
        conductance[a, b] = g_w_per_k
        conductance[b, a] = g_w_per_k

    grid = np.arange(cells).reshape(rows, cols)
    half_r_k_per_w = [
        layer.thickness_mm * 1e-3 / (2 * layer.conductivity_w_per_m_k * area_m2) for layer in layers
    ]
    for i, layer in enumerate(layers):
        t_m, k = layer.thickness_mm * 1e-3, layer.conductivity_w_per_m_k
        nodes = i * cells + grid
        capacitance[nodes] = layer.volumetric_heat_capacity_j_per_m3_k * area_m2 * t_m
        couple(nodes[:, :-1], nodes[:, 1:], k * t_m * dy_m / dx_m)
        couple(nodes[:-1, :], nodes[1:, :], k * t_m * dx_m / dy_m)
        below: NDArray[np.intp] | int = nodes + cells if i + 1 < len(layers) else package
        below_half_r = half_r_k_per_w[i + 1] if i + 1 < len(layers) else 0.0
        couple(nodes, below, 1.0 / (half_r_k_per_w[i] + below_half_r))
    capacitance[package] = profile.package.heat_capacity_j_per_k

    # Top mid-plane to die bottom, all cells in parallel: what uniform heating sees in the die.
    die_r_k_per_w = (half_r_k_per_w[0] + 2 * sum(half_r_k_per_w[1:])) / cells
    package_r_k_per_w = profile.package.die_to_ambient_k_per_w - die_r_k_per_w
    if package_r_k_per_w <= 0:
        raise ProfileError(
            f"package.die_to_ambient_k_per_w ({profile.package.die_to_ambient_k_per_w}) must "
            f"exceed the die's own vertical resistance ({die_r_k_per_w:.4g} K/W)"
        )
    to_ambient = np.zeros(n)
    to_ambient[package] = 1.0 / package_r_k_per_w

    injection = np.zeros((n, len(profile.heaters)))
    for j, h in enumerate(profile.heaters):
        share_x = _overlap(h.x_mm, h.width_mm, profile.die_width_mm / cols, cols)
        share_y = _overlap(h.y_mm, h.height_mm, profile.die_height_mm / rows, rows)
        share = np.outer(share_y, share_x)
        injection[grid.ravel(), j] = (share / share.sum()).ravel()

    weights = np.zeros((len(profile.sensors), n))
    for s, sensor in enumerate(profile.sensors):
        for row, wy in bilinear(sensor.y_mm, profile.die_height_mm / rows, rows):
            for col, wx in bilinear(sensor.x_mm, profile.die_width_mm / cols, cols):
                weights[s, grid[row, col]] += wy * wx

    return ChipNetwork(
        network=RCNetwork(capacitance, conductance, to_ambient),
        heater_ids=tuple(h.id for h in profile.heaters),
        heater_injection=injection,
        sensor_weights=weights,
        top_nodes=grid,
    )


def _overlap(centre_mm: float, size_mm: float, pitch_mm: float, count: int) -> FloatArray:
    """Length of [centre - size/2, centre + size/2] falling in each of `count` cells."""
    edges = np.arange(count + 1) * pitch_mm
    low, high = centre_mm - size_mm / 2, centre_mm + size_mm / 2
    inside = np.minimum(edges[1:], high) - np.maximum(edges[:-1], low)
    return np.asarray(np.maximum(inside, 0.0), dtype=np.float64)


def bilinear(coord_mm: float, pitch_mm: float, count: int) -> list[tuple[int, float]]:
    """Cells and weights for linear interpolation between cell centres, clamped at the edges."""
    u = min(max(coord_mm / pitch_mm - 0.5, 0.0), count - 1.0)
    low = min(int(u), max(count - 2, 0))
    if low + 1 >= count:
        return [(low, 1.0)]
    return [(low, 1.0 - (u - low)), (low + 1, u - low)]
