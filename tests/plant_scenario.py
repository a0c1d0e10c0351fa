"""A scripted run of the simulated chip, recorded once as `data/plant_trajectory.npz`.

The plant's storage and per-pass arithmetic may change (fewer matrices, cached inputs); its
physics must not. `tests/test_sim_plant.py` plays this scenario on today's driver and compares
with the recording, made by `python tests/plant_scenario.py` from the plant as it was before
those changes (commit 9188238). Regenerate it only for a change meant to alter the physics.

The script: heaters switched on and off in groups at periods that are not multiples of the
read period, reads every 10 ms (and some between), a stuck heater, a room step and drift,
degraded cooling, and a plant mismatch on a second chip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from photon_drivers.clock import ManualClock
from photon_drivers.sim.driver import SimulatedChipDriver

RECORDING = Path(__file__).parent / "data" / "plant_trajectory.npz"


def play(mismatch: float = 0.0, steps: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(true top-layer temperatures at every 20th read, sensor readings at every read) of the
    scenario's first `steps` steps."""
    clock = ManualClock()
    chip = SimulatedChipDriver(clock=clock, seed=7, plant_mismatch=mismatch)
    heaters = [h.id for h in chip.profile.heaters]
    tops, reads = [], []

    def read() -> None:
        tops.append(chip.true_temperatures_c())
        reads.append(chip.read_sensors().temperature_c)

    for k in range(steps):
        if k % 37 == 0:
            group = heaters[(k // 37) * 5 % 64 :][:9]
            chip.set_heater_powers({h: 4.0 + (k % 11) for h in group})
        if k == 90:
            chip.stick_heater(heaters[3], 18.0)
        if k == 150:
            chip.step_ambient(1.5)
        if k == 200:
            chip.set_ambient_drift(0.2)
        if k == 260:
            chip.degrade_cooling(1.7)
        if k == 300:
            chip.safe_state()
            chip.stick_heater(heaters[3], None)
        clock.advance(0.01 if k % 13 else 0.0037)
        read()
        if k % 50 == 0:
            clock.advance(2.5)  # a long catch-up, drifting or not
            read()
    return np.array(tops[::20]), np.array(reads)


def record() -> None:
    top, readings = play()
    top_mismatch, readings_mismatch = play(0.2, steps=120)
    np.savez_compressed(
        RECORDING,
        top=top,
        readings=readings,
        top_mismatch=top_mismatch,
        readings_mismatch=readings_mismatch,
    )


if __name__ == "__main__":
    record()
