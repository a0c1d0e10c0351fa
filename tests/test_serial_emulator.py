"""`python -m photon_drivers.serial.emulator`: prints where it listens and takes fault commands."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from photon_drivers import ScaledClock
from photon_drivers.serial.driver import SerialDriver
from photon_drivers.serial.emulator import send_command


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    control = tmp_path / "control.sock"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photon_drivers.serial.emulator",
            "--pty",
            "--control",
            str(control),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    device = process.stdout.readline().strip()
    assert process.stdout.readline().strip() == f"control {control}"
    yield device, control
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    process.stdout.close()


def test_cli_prints_the_pty_and_serves_it(emulator_process: tuple[str, Path]) -> None:
    device, _ = emulator_process
    assert device.startswith("/dev/pts/")
    driver = SerialDriver.open({"port": device, "timeout_s": "0.2"}, ScaledClock())
    try:
        assert len(driver.read_sensors().temperature_c) == 16
    finally:
        driver.close()


def test_control_socket_sets_faults_and_reports_stats(emulator_process: tuple[str, Path]) -> None:
    device, control = emulator_process
    assert send_command(control, "fail-sensor 0") == "ok"
    assert send_command(control, "corrupt 1.5").startswith("error: corrupt: FRACTION")
    assert send_command(control, "bogus").startswith("error: bogus: unknown command")
    driver = SerialDriver.open({"port": device, "timeout_s": "0.2"}, ScaledClock())
    try:
        first = driver.read_sensors().temperature_c[0]
        assert send_command(control, "heal-sensor 0") == "ok"
        healed = driver.read_sensors().temperature_c[0]
    finally:
        driver.close()
    assert first != first and healed == healed  # NaN, then a number
    answer = send_command(control, "stats")
    assert answer.startswith("ok ")
    assert json.loads(answer[3:])["frames_handled"] >= 4


def test_cli_serves_tcp() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "photon_drivers.serial.emulator", "--tcp", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().strip()
        assert address.startswith("socket://127.0.0.1:") and not address.endswith(":0")
        driver = SerialDriver.open({"port": address}, ScaledClock())
        driver.ping()
        driver.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        if process.stdout is not None:
            process.stdout.close()
