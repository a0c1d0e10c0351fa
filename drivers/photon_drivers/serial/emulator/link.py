"""The emulator's serial loop: read bytes, decode frames, answer them, with faults applied.

One thread plays the microcontroller's main loop. It answers requests strictly in order, so
a delayed reply delays the next one too, as real firmware would. Corruption applies to bytes
in both directions (a noisy line does not care who talks); dropped replies and delays apply
to what the firmware sends. With `pace_baud` set, each exchange also takes the time its bytes
need on a real UART at that rate (10 bits per byte, 8N1) before the reply goes out.
"""

from __future__ import annotations

import threading
import time

from photon_drivers.serial.emulator.endpoints import Endpoint
from photon_drivers.serial.emulator.faults import Faults
from photon_drivers.serial.emulator.firmware import Firmware
from photon_drivers.serial.protocol import FrameDecoder, encode_frame

_POLL_S = 0.02
_BITS_PER_BYTE = 10


class EmulatorLoop:
    """Serve one endpoint until `stop` is set.

    Args:
        endpoint: the pty or TCP port.
        firmware: answers requests.
        faults: knobs, shared with the control socket.
        pace_baud: emulate this line rate; 0 sends as fast as the endpoint allows.
    """

    def __init__(
        self, endpoint: Endpoint, firmware: Firmware, faults: Faults, pace_baud: int = 0
    ) -> None:
        self.endpoint = endpoint
        self.firmware = firmware
        self.faults = faults
        self.pace_baud = pace_baud
        self._decoder = FrameDecoder()

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.faults.disconnect_until_s is not None:
                self._outage(stop)
                continue
            data = self.endpoint.read(_POLL_S)
            if not data:
                continue
            before = self._decoder.corrupt_frames
            for frame in self._decoder.feed(self.faults.corrupt(data)):
                self.faults.stats.frames_handled += 1
                reply = self.firmware.handle(frame)
                if reply is None or self.faults.drop_reply():
                    continue
                wait_s = self.faults.delay_s
                if self.pace_baud:
                    request_bytes = len(encode_frame(frame.seq, frame.command, frame.payload))
                    wait_s += (request_bytes + len(reply)) * _BITS_PER_BYTE / self.pace_baud
                if wait_s > 0 and stop.wait(wait_s):
                    return
                self.endpoint.write(self.faults.corrupt(reply))
            self.faults.stats.bad_frames += self._decoder.corrupt_frames - before

    def _outage(self, stop: threading.Event) -> None:
        """Unplug: drop the port, restart the firmware, wait, plug back in."""
        self.endpoint.disconnect()
        self.firmware.reset()
        self.faults.stats.disconnects += 1
        while not stop.is_set():
            until_s = self.faults.disconnect_until_s
            if until_s is None or time.monotonic() >= until_s:
                break
            stop.wait(_POLL_S)
        self.faults.disconnect_until_s = None
        self._decoder.reset()
        self.endpoint.connect()
