"""Which heater of a device's profile is which phase of its Clements mesh, and what power.

A profile gives each heater a position, its maximum power and its P_π (the power of a π phase
shift), but not its role in the mesh. On a profile whose heaters form an N x N grid (the
default: 64 heaters, 8 x 8) the workloads assume the rectangular layout of Clements et al.
(2016, Fig. 1) laid onto the grid (docs/workloads.md §3):

* grid column c (c-th distinct x from the left) holds mesh column c; grid row r (r-th
  distinct y from the bottom) is mode r;
* the MZI on modes (m, m+1) in column c has its external phase φ on row m (the upper input
  waveguide) and its internal phase on row m+1;
* the N grid slots no MZI uses (rows 0 and N-1 of alternate columns) hold the N output
  phases, in column-major order.

Phase to power: a thermo-optic shifter's phase is linear in its power (Δφ ∝ ΔT ∝ P at these
powers), so a phase ψ ∈ [0, 2π) costs ψ/π · P_π. The MZI of eq. (1) with splitting angle θ is
set by an internal phase 2θ ∈ [0, π].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from ._gemm import WorkloadError
from .clements import MeshPhases, decompose, mzi_columns

__all__ = ["DeviceLike", "Mesh"]


class _HeaterLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def x_mm(self) -> float: ...
    @property
    def y_mm(self) -> float: ...
    @property
    def max_power_mw(self) -> float: ...
    @property
    def pi_power_mw(self) -> float: ...


class _LaneLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...


class DeviceLike(Protocol):
    """What the mapping reads of a device: an SDK :class:`~photon_sdk.types.Device` (from
    ``Client.describe_device``) or a ``photon_drivers`` profile both fit."""

    @property
    def heaters(self) -> Sequence[_HeaterLike]: ...
    @property
    def lanes(self) -> Sequence[_LaneLike]: ...


@dataclass(frozen=True)
class Mesh:
    """A device's heaters in mesh roles (see the module docstring).

    Attributes:
        size: N, the number of modes (the tile size).
        theta_heaters, phi_heaters: (MZIs,) heater column index of each MZI's internal and
            external phase, MZIs in :func:`~photon_sdk.workloads.clements.decompose` order.
        output_heaters: (N,) heater column index of each mode's output phase.
        heater_ids: heater ids; power arrays have one column per heater, in this order.
        pi_power_mw, max_power_mw: (heaters,) per heater.
        wavelength_lanes: ids of the lanes of kind "wavelength".
    """

    size: int
    theta_heaters: NDArray[np.int64]
    phi_heaters: NDArray[np.int64]
    output_heaters: NDArray[np.int64]
    heater_ids: tuple[str, ...]
    pi_power_mw: NDArray[np.float64]
    max_power_mw: NDArray[np.float64]
    wavelength_lanes: tuple[str, ...]

    @classmethod
    def from_device(cls, device: DeviceLike) -> Mesh:
        """Assign mesh roles to a device's heaters; WorkloadError when they are no N x N grid."""
        heaters = list(device.heaters)
        n = round(len(heaters) ** 0.5)
        xs = sorted({round(h.x_mm, 6) for h in heaters})
        ys = sorted({round(h.y_mm, 6) for h in heaters})
        if n < 2 or n * n != len(heaters) or len(xs) != n or len(ys) != n:
            raise WorkloadError(
                f"device.heaters: {len(heaters)} heaters on {len(xs)} columns x {len(ys)} rows; "
                "mapping a mesh needs N x N heaters on a grid (N >= 2)"
            )
        slot = {
            (ys.index(round(h.y_mm, 6)), xs.index(round(h.x_mm, 6))): i
            for i, h in enumerate(heaters)
        }
        if len(slot) != n * n:
            raise WorkloadError("device.heaters: two heaters share a grid position")
        modes = _modes(n)
        columns = mzi_columns(n)
        used = set()
        theta, phi = [], []
        for m, c in zip(modes, columns, strict=True):
            phi.append(slot[(m, c)])
            theta.append(slot[(m + 1, c)])
            used |= {(m, c), (m + 1, c)}
        spare = [slot[(r, c)] for c in range(n) for r in range(n) if (r, c) not in used]
        lanes = tuple(lane.id for lane in device.lanes if lane.kind == "wavelength")
        return cls(
            size=n,
            theta_heaters=np.array(theta, dtype=np.int64),
            phi_heaters=np.array(phi, dtype=np.int64),
            output_heaters=np.array(spare, dtype=np.int64),
            heater_ids=tuple(h.id for h in heaters),
            pi_power_mw=np.array([h.pi_power_mw for h in heaters], dtype=np.float64),
            max_power_mw=np.array([h.max_power_mw for h in heaters], dtype=np.float64),
            wavelength_lanes=lanes,
        )

    def powers_mw(self, phases: MeshPhases) -> NDArray[np.float64]:
        """Heater powers (batch, heaters) that set these phases, checked against each maximum.

        Raises:
            WorkloadError: a phase needs more than its heater's maximum (e.g. a complex
                matrix's φ near 2π on a heater whose maximum is below 2·P_π).
        """
        batch = phases.output.shape[0]
        phase = np.zeros((batch, len(self.heater_ids)))
        phase[:, self.theta_heaters] = 2.0 * phases.theta
        phase[:, self.phi_heaters] = phases.phi
        phase[:, self.output_heaters] = phases.output
        power = phase / np.pi * self.pi_power_mw
        over = power > self.max_power_mw
        if over.any():
            b, h = np.argwhere(over)[0]
            raise WorkloadError(
                f"heater {self.heater_ids[h]!r} would need {power[b, h]:.4g} mW for a phase of "
                f"{phase[b, h] / np.pi:.4g}π, above its maximum {self.max_power_mw[h]:g} mW "
                f"({self.max_power_mw[h] / self.pi_power_mw[h]:.3g}π at P_π "
                f"{self.pi_power_mw[h]:g} mW): real matrices need at most π per shifter, "
                "complex ones up to 2π"
            )
        return power


def _modes(n: int) -> tuple[int, ...]:
    """The upper mode of each MZI in decomposition order (the same for every unitary)."""
    return tuple(int(m) for m in decompose(np.eye(n, dtype=np.complex128)).modes)
