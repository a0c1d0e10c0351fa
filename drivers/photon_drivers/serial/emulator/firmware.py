"""The firmware's command handler, sans I/O: a request frame in, a reply frame out.

It stands for the microcontroller on the chip's board: it knows the heater and sensor counts
and the model name, turns SET_POWERS indices into heater powers on the simulated chip, reads
the chip's sensors, and answers anything it cannot do with an error reply naming the reason.
Frames that fail their CRC never reach it: like most field-bus firmware it stays silent and
lets the host time out, because a reply to a garbled request could not say which request.
"""

from __future__ import annotations

import math

from photon_drivers.serial.emulator.faults import Faults
from photon_drivers.serial.protocol import (
    ERROR,
    PROTOCOL_VERSION,
    REPLY,
    Command,
    ErrorCode,
    Frame,
    Identity,
    ProtocolError,
    decode_powers,
    encode_error,
    encode_frame,
    encode_identity,
    encode_temperatures,
)
from photon_drivers.sim.driver import SimulatedChipDriver


class Firmware:
    """Answers protocol requests from a simulated chip, honouring the sensor faults."""

    def __init__(self, chip: SimulatedChipDriver, faults: Faults) -> None:
        self.chip = chip
        self.faults = faults
        profile = chip.profile
        self._heater_ids = [h.id for h in profile.heaters]
        self._identity = Identity(
            PROTOCOL_VERSION, len(profile.heaters), len(profile.sensors), profile.model
        )

    def handle(self, frame: Frame) -> bytes | None:
        """The encoded reply to one request; None for frames that are not requests."""
        if frame.command & (REPLY | ERROR):
            return None  # our own kind of frame looped back, or another device's reply
        try:
            payload = self._dispatch(frame)
        except _Refusal as refusal:
            code = frame.command | REPLY | ERROR
            return encode_frame(frame.seq, code, encode_error(refusal.code, refusal.message))
        finally:
            self.faults.stats.heater_power_mw = self.chip.total_power_mw()
        return encode_frame(frame.seq, frame.command | REPLY, payload)

    def reset(self) -> None:
        """Power-on state: every heater off (an unplugged board restarts like this)."""
        self.chip.safe_state()
        self.faults.stats.heater_power_mw = 0.0

    def _dispatch(self, frame: Frame) -> bytes:
        try:
            command = Command(frame.command)
        except ValueError:
            raise _Refusal(ErrorCode.UNKNOWN_COMMAND, f"no command 0x{frame.command:02x}") from None
        if command is not Command.SET_POWERS and frame.payload:
            raise _Refusal(ErrorCode.BAD_PAYLOAD, f"{command.name} takes no payload")
        if command is Command.IDENTIFY:
            return encode_identity(self._identity)
        if command is Command.PING:
            return b""
        if command is Command.READ_SENSORS:
            readings = list(self.chip.read_sensors().temperature_c)
            for index in self.faults.failed_sensors.copy():
                if 0 <= index < len(readings):
                    readings[index] = math.nan
            return encode_temperatures(readings)
        if command is Command.SAFE_STATE:
            self.chip.safe_state()
            return b""
        return self._set_powers(frame.payload)

    def _set_powers(self, payload: bytes) -> bytes:
        try:
            by_index = decode_powers(payload)
        except ProtocolError as exc:
            raise _Refusal(ErrorCode.BAD_PAYLOAD, str(exc)) from None
        bad = [i for i in by_index if i >= len(self._heater_ids)]
        if bad:
            raise _Refusal(ErrorCode.OUT_OF_RANGE, f"no heater index {bad[0]}")
        try:
            self.chip.set_heater_powers({self._heater_ids[i]: mw for i, mw in by_index.items()})
        except ValueError as exc:
            raise _Refusal(ErrorCode.OUT_OF_RANGE, str(exc)) from None
        return b""


class _Refusal(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
