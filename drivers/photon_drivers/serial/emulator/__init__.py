"""A firmware emulator that speaks the photon serial protocol, backed by the simulated chip.

Run it as `python -m photon_drivers.serial.emulator` (see `--help`), or in-process with `Emulator`
for tests and benchmarks. Either way the driver reaches it through a real pty or a real TCP
socket: nothing of pyserial is mocked.
"""

from __future__ import annotations

import threading
from pathlib import Path

from photon_drivers.clock import ScaledClock
from photon_drivers.profile import DeviceProfile
from photon_drivers.serial.emulator.control import ControlServer
from photon_drivers.serial.emulator.control import send_command as send_command
from photon_drivers.serial.emulator.endpoints import Endpoint, PtyEndpoint, TcpEndpoint
from photon_drivers.serial.emulator.faults import Faults as Faults
from photon_drivers.serial.emulator.firmware import Firmware
from photon_drivers.serial.emulator.link import EmulatorLoop
from photon_drivers.sim.driver import SimulatedChipDriver

__all__ = ["Emulator", "Faults", "send_command"]


class Emulator:
    """The emulated board: a simulated chip, its firmware, a serial endpoint and the faults.

    Args:
        tcp: serve `socket://HOST:PORT` at this (host, port) instead of a pty; port 0 picks one.
        link: for a pty, a stable symlink to the current pty (survives disconnects).
        control: path of the fault-control Unix socket; None for no socket.
        profile: the chip; None is the shipped default.
        time_scale: device seconds per wall second of the simulated chip.
        seed: seeds sensor noise and fault randomness.
        pace_baud: emulate a UART at this rate (the pty alone ignores baud); 0 is unpaced.
        faults: initial faults.
    """

    def __init__(
        self,
        *,
        tcp: tuple[str, int] | None = None,
        link: Path | None = None,
        control: Path | None = None,
        profile: DeviceProfile | None = None,
        time_scale: float = 1.0,
        seed: int = 0,
        pace_baud: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self.faults = faults if faults is not None else Faults(seed=seed)
        self.chip = SimulatedChipDriver(profile, ScaledClock(time_scale), seed=seed)
        self.endpoint: Endpoint = TcpEndpoint(*tcp) if tcp is not None else PtyEndpoint(link)
        self._loop = EmulatorLoop(
            self.endpoint, Firmware(self.chip, self.faults), self.faults, pace_baud
        )
        self._control = ControlServer(control, self.faults) if control is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = False

    @property
    def address(self) -> str:
        """The driver's `port` option: a pty path (or its link) or socket://host:port."""
        return self.endpoint.address

    def open(self) -> None:
        """Make the pty or the listening port (and the control socket); `address` is then valid."""
        if not self._opened:
            self._opened = True
            self.endpoint.connect()
            if self._control is not None:
                self._control.start()

    def serve(self) -> None:
        """Run the firmware loop in this thread until `stop()`, then release everything."""
        self.open()
        try:
            self._loop.serve(self._stop)
        finally:
            if self._control is not None:
                self._control.close()
            self.endpoint.disconnect()

    def start(self) -> Emulator:
        """Connect, then serve in a background thread; returns self, ready for the driver."""
        self.open()
        self._thread = threading.Thread(target=self.serve, name="emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler); joins it when it runs in a thread."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
