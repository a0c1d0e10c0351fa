"""The simulated chip's step and read at a control loop's pace: the slow modes only.

The daemon reads the simulated chip every control period, at 100 Hz for months, idle or not.
A read advances the plant's 1,548 modes and reads 16 sensors through a 16 x 1,548 matrix; as
numpy calls that was some twenty calls over 1,548-long arrays, a large part of photond's idle
CPU (benchmarks/loop_pass.py). But most modes settle within a period
(`RCNetwork.advance_modes`): under a constant input a settled mode holds input/λ, and its share
of each sensor's reading holds too. `SettledShare` keeps that share, so a step and a read touch
only the slow modes, each in one numba call. The kernels keep the interpreter (no `nogil`):
they take microseconds, and a thread that lets go of it in the middle of the control loop's
pass waits up to a switch interval to have it back while RPC threads are busy.

Exactness is `advance_modes`'s argument: a mode with λ·dt ≥ `SETTLED_RATE_STEPS` ends a step
at input/λ to the last bit; and input/λ is where a step under that input leaves it, however
short. So a share built at one step holds, under the same input, for every later step; it is
built anew for a new input (or plant), and for a step twice as long as the one that built it, so
that the slow set follows the loop's period rather than an odd short step's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from photon_drivers.plant.rc_network import SETTLED_RATE_STEPS, FloatArray


class SettledShare:
    """The settled modes of one input and plant, and their share of every sensor's rise.

    Built at a step of `dt_s` (it writes the settled modes' values); holds for `modal_input`
    (the very array: inputs are replaced, never edited) and steps shorter than twice `dt_s`.
    """

    def __init__(
        self,
        modes: FloatArray,
        modal_input: FloatArray,
        rates_per_s: FloatArray,
        sensor_from_modes: FloatArray,
        dt_s: float,
    ) -> None:
        self.slow = int(np.searchsorted(rates_per_s, SETTLED_RATE_STEPS / dt_s))
        self.longest_s = 2.0 * dt_s
        self.modal_input = modal_input
        slow = self.slow
        modes[slow:] = modal_input[slow:] / rates_per_s[slow:]
        self.sensor_rise_k: FloatArray = sensor_from_modes[:, slow:] @ modes[slow:]
        # The slow modes' readout, contiguous for the read kernel.
        self.slow_readout: FloatArray = np.ascontiguousarray(sensor_from_modes[:, :slow])

    def holds_for(self, modal_input: FloatArray, dt_s: float) -> bool:
        return modal_input is self.modal_input and dt_s < self.longest_s


@njit(cache=True)
def advance_slow(
    modes: FloatArray, modal_input: FloatArray, rates_per_s: FloatArray, dt_s: float, slow: int
) -> None:
    """Advance the first `slow` modes by `dt_s` under constant input, exactly, in place."""
    for i in range(slow):
        rate = rates_per_s[i]
        # -expm1 keeps (1 - e^-λdt)/λ accurate for slow modes and short steps.
        modes[i] = (
            math.exp(-rate * dt_s) * modes[i]
            + (-math.expm1(-rate * dt_s) / rate) * (modal_input[i])
        )


@njit(cache=True)
def read_sensors_c(
    slow_readout: FloatArray,
    modes: FloatArray,
    settled_rise_k: FloatArray,
    ambient_c: float,
    normals: FloatArray,
    noise_c: FloatArray,
    resolution_c: FloatArray,
    time_s: float,
    min_period_s: FloatArray,
    last_read_s: FloatArray,
    last_read_c: FloatArray,
) -> FloatArray:
    """What each sensor reads now: its rise from the slow modes plus the settled share, over
    ambient, plus Gaussian noise (`normals` x `noise_c`), quantised to its resolution (to the
    nearest step, halves to even, as numpy's round). A sensor read less than its
    `min_period_s` after its last reading reads that again, as a slow ADC's firmware answers
    (`last_read_s` and `last_read_c` are updated in place; the noise is drawn all the same, so
    the noise stream does not depend on the read rate)."""
    sensors, slow = slow_readout.shape
    for s in range(sensors):
        if not time_s - last_read_s[s] >= min_period_s[s]:
            continue
        rise = 0.0
        for k in range(slow):
            rise += slow_readout[s, k] * modes[k]
        true_c = ambient_c + (rise + settled_rise_k[s])
        noisy_c = true_c + normals[s] * noise_c[s]
        last_read_c[s] = np.rint(noisy_c / resolution_c[s]) * resolution_c[s]
        last_read_s[s] = time_s
    return last_read_c.copy()


def warm_up(sensors: int) -> None:
    """Compile (or load from numba's cache) both kernels now, for the argument types a chip's
    steps and reads pass, so that no control loop's first pass waits for them."""
    modes = np.zeros(2)
    advance_slow(modes, np.ones(2), np.ones(2), 0.01, 2)
    ones, zeros = np.ones(sensors), np.zeros(sensors)
    read_sensors_c(
        np.zeros((sensors, 2)), modes, zeros, 25.0, ones, ones, ones, 0.0, ones, zeros, ones
    )
