"""One conformance kit, every driver: the simulated chip, the serial driver, a plugin's driver."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from photon_drivers import ScaledClock
from photon_drivers.serial.driver import SerialDriver
from photon_drivers.serial.emulator import Emulator, Faults
from photon_drivers.sim.driver import SimulatedChipDriver
from photon_drivers.testing import DriverConformanceError, check_driver

PLUGIN = Path(__file__).parent / "driver_plugin"


def test_sim_driver_conforms() -> None:
    check_driver(lambda: SimulatedChipDriver.open({}, ScaledClock(10.0)))


@pytest.mark.parametrize("transport", ["pty", "socket"])
def test_serial_driver_conforms(transport: str, tmp_path: Path) -> None:
    tcp = ("127.0.0.1", 0) if transport == "socket" else None
    with Emulator(tcp=tcp, time_scale=10.0) as emulator:
        check_driver(lambda: SerialDriver.open({"port": emulator.address}, ScaledClock(10.0)))


def test_serial_driver_conforms_on_a_noisy_line() -> None:
    with Emulator(faults=Faults(corrupt_fraction=0.01, seed=2)) as emulator:
        options = {"port": emulator.address, "attempts": "20", "timeout_s": "0.05"}
        check_driver(lambda: SerialDriver.open(options, ScaledClock()))
        assert emulator.faults.stats.corrupted_bytes > 0


class LaxDriver(SimulatedChipDriver):
    """Forgets to check powers: the kit must catch it."""

    def set_heater_powers(self, powers_mw: Mapping[str, float]) -> None:
        pass


def test_the_kit_catches_a_driver_that_accepts_bad_powers() -> None:
    with pytest.raises(DriverConformanceError, match="was accepted"):
        check_driver(lambda: LaxDriver(clock=ScaledClock()))


def test_a_driver_from_another_package_is_found_by_name(tmp_path: Path) -> None:
    """Install the plugin for real (pip, into a temporary target) and resolve it by name."""
    target = tmp_path / "site"
    source = tmp_path / "plugin"  # a copy: pip builds in the source folder
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
            "--no-build-isolation", "--target", str(target), str(source),
        ],
        check=True,
    )  # fmt: skip
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        from photon_drivers import ScaledClock
        from photon_drivers.registry import available_drivers, open_driver
        from photon_drivers.testing import check_driver
        driver = open_driver("test-constant", {}, ScaledClock())
        assert type(driver).__module__ == "photon_test_plugin", type(driver)
        check_driver(lambda: open_driver("test-constant", {}, ScaledClock()))
        print(" ".join(available_drivers()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(target)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert {"sim", "serial", "test-constant"} <= set(done.stdout.split())
