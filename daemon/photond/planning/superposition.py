"""The superposition core the planners share: tasks folded into the model once, and the modes
moved in closed form between events.

Every prediction of a plan here is linear in the tasks' powers: a task that holds heater powers
p (mW) adds b·p to the modal input of every control period it runs and D·p to the
instantaneous rise at every limit point (each heater's footprint, then each sensor). Between two
events (a start or an end) the input is constant, so each mode moves geometrically to its
steady value and any number of periods costs one power per mode. The optimiser's thermal check
(`thermal_check`), its trace of a plan (`thermal_tables`), and the loop's forecast and re-time
(`job_tables`, `retime`) are all built on these pieces; the independent validator is not.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from photond.model.loop_model import LoopModel

FloatArray = NDArray[np.float64]


def task_tables(model: LoopModel, power_mw: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(modal input per period (tasks, modes), feedthrough (tasks, limit points) in K) of
    tasks holding heater powers `power_mw` (tasks, heaters), in model heater order."""
    _, feedthrough = model.limit_readout()
    return (
        np.ascontiguousarray(power_mw @ model.input_gain[:, :-1].T),
        np.ascontiguousarray(power_mw @ feedthrough[:, :-1].T),
    )


@njit(cache=True, nogil=True, inline="always")
def advance_modes(x: FloatArray, decay: FloatArray, modal_in: FloatArray, periods: int) -> None:
    """Move the modal state `x` `periods` control periods on at constant input `modal_in`:
    x ← aᴸ x + b (1 - aᴸ)/(1 - a), exact for the discretised model."""
    for q in range(x.shape[0]):
        a_l = decay[q] ** periods
        x[q] = a_l * x[q] + modal_in[q] * (1.0 - a_l) / (1.0 - decay[q])


@njit(cache=True, nogil=True, inline="always")
def add_row(dst: FloatArray, table: FloatArray, row: int, sign: float) -> None:
    """dst += sign · table[row], as a loop: in the kernels an array expression costs an
    allocation each time."""
    for q in range(dst.shape[0]):
        dst[q] += sign * table[row, q]
