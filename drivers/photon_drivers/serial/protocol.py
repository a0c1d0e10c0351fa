"""The photon serial wire protocol as a sans-I/O codec: bytes in, frames out, and back.

Nothing here touches a port or a clock, so the driver, the firmware emulator, the tests and
the benchmark all share one implementation and a bug cannot hide in one of two copies (the
shape of httpx's I/O-free auth flows). The protocol is specified in docs/serial-protocol.md;
in short, every frame on the wire is

    0x00 | COBS( seq u8 | command u8 | payload | crc16 u16 big-endian ) | 0x00

COBS removes every zero byte from the body, so 0x00 marks frame boundaries unambiguously and a
receiver that lost its place resynchronises at the next zero. CRC-16/CCITT-FALSE covers seq,
command and payload. The command byte's top bits say who speaks: a request from the host has
neither, a reply from the device sets REPLY, an error reply sets REPLY | ERROR.
"""

from __future__ import annotations

import binascii
import enum
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PROTOCOL_VERSION = 1
MAX_PAYLOAD_BYTES = 250
REPLY = 0x80
ERROR = 0x40
# Temperatures travel as signed centi-degrees; this code means "sensor failed" (read as NaN).
FAILED_SENSOR_CODE = -32768
TEMPERATURE_CODES_PER_C = 100
# Heater powers travel as unsigned multiples of 10 µW: 0 ... 655.35 mW at 0.01 mW resolution.
POWER_CODES_PER_MW = 100
MAX_ENCODABLE_POWER_MW = 0xFFFF / POWER_CODES_PER_MW
MAX_INDEXED_ITEMS = 255
_MAX_FRAME_BYTES = MAX_PAYLOAD_BYTES + 8  # a run this long with no delimiter is garbage


class Command(enum.IntEnum):
    IDENTIFY = 0x01
    PING = 0x02
    READ_SENSORS = 0x03
    SET_POWERS = 0x04
    SAFE_STATE = 0x05


class ErrorCode(enum.IntEnum):
    UNKNOWN_COMMAND = 1
    BAD_PAYLOAD = 2
    OUT_OF_RANGE = 3
    INTERNAL = 4


class ProtocolError(ValueError):
    """A frame was well formed on the wire but its payload does not fit its command."""


@dataclass(frozen=True)
class Frame:
    seq: int
    command: int
    payload: bytes

    @property
    def is_reply(self) -> bool:
        return bool(self.command & REPLY)

    @property
    def is_error(self) -> bool:
        return self.command & (REPLY | ERROR) == REPLY | ERROR

    @property
    def base_command(self) -> int:
        return self.command & ~(REPLY | ERROR)


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): cheap in firmware, C-fast here."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result holds no zero byte."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Invert `cobs_encode`; raises ProtocolError on a code that overruns the data."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise ProtocolError("COBS code overruns the frame")
        out += data[i + 1 : i + code]
        i += code
        if code < 255 and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(seq: int, command: int, payload: bytes = b"") -> bytes:
    """One frame as it goes on the wire, with a leading and a trailing delimiter.

    The leading zero ends whatever garbage the receiver may hold, so a fresh frame never
    merges with the remains of a corrupted one.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    body = bytes((seq & 0xFF, command & 0xFF)) + payload
    return b"\x00" + cobs_encode(body + crc16(body).to_bytes(2, "big")) + b"\x00"


class FrameDecoder:
    """Feed received bytes, get whole frames; counts what it had to throw away.

    Attributes:
        frames: good frames decoded so far.
        corrupt_frames: delimited chunks that failed COBS or the CRC, or were too long.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overlong = False
        self.frames = 0
        self.corrupt_frames = 0

    def reset(self) -> None:
        """Forget a partial frame (the caller is about to resend and wants a clean slate)."""
        self._buffer.clear()
        self._overlong = False

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        *complete, tail = bytes(self._buffer).split(b"\x00")
        self._buffer[:] = tail
        found = [frame for chunk in complete if (frame := self._decode(chunk)) is not None]
        if len(self._buffer) > _MAX_FRAME_BYTES:
            self._buffer.clear()
            self._overlong = True
        return found

    def _decode(self, chunk: bytes) -> Frame | None:
        if self._overlong:
            self._overlong = False
            self.corrupt_frames += 1
            return None
        if not chunk:
            return None  # two delimiters in a row: an idle line, not an error
        try:
            body = cobs_decode(chunk)
        except ProtocolError:
            self.corrupt_frames += 1
            return None
        if len(body) < 4 or crc16(body[:-2]) != int.from_bytes(body[-2:], "big"):
            self.corrupt_frames += 1
            return None
        self.frames += 1
        return Frame(body[0], body[1], bytes(body[2:-2]))


# -- payloads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    protocol_version: int
    heater_count: int
    sensor_count: int
    model: str


def encode_identity(identity: Identity) -> bytes:
    model = identity.model.encode()[: MAX_PAYLOAD_BYTES - 3]
    return bytes((identity.protocol_version, identity.heater_count, identity.sensor_count)) + model


def decode_identity(payload: bytes) -> Identity:
    if len(payload) < 3:
        raise ProtocolError(f"IDENTIFY reply of {len(payload)} bytes is too short")
    return Identity(payload[0], payload[1], payload[2], payload[3:].decode(errors="replace"))


def encode_temperatures(temperatures_c: Sequence[float]) -> bytes:
    """Centi-degree int16s; NaN or out-of-range readings go as the failed-sensor code."""
    codes = []
    for t in temperatures_c:
        code = round(t * TEMPERATURE_CODES_PER_C) if math.isfinite(t) else FAILED_SENSOR_CODE
        codes.append(code if -32767 <= code <= 32767 else FAILED_SENSOR_CODE)
    return struct.pack(f"<{len(codes)}h", *codes)


def decode_temperatures(payload: bytes, sensor_count: int) -> tuple[float, ...]:
    if len(payload) != 2 * sensor_count:
        raise ProtocolError(
            f"READ_SENSORS reply of {len(payload)} bytes, expected {2 * sensor_count}"
        )
    codes = struct.unpack(f"<{sensor_count}h", payload)
    return tuple(
        math.nan if code == FAILED_SENSOR_CODE else code / TEMPERATURE_CODES_PER_C for code in codes
    )


def encode_powers(powers_mw: Mapping[int, float]) -> bytes:
    """Sparse (heater index u8, power u16 in 10 µW) pairs; heaters not listed are off.

    Sparse, because a task drives a few heaters: fewer bytes on the wire is fewer bytes a
    noisy line can corrupt, and zeros are implied by the all-heaters-in-every-command rule.
    """
    items = [(index, round(mw * POWER_CODES_PER_MW)) for index, mw in sorted(powers_mw.items())]
    items = [(index, code) for index, code in items if code > 0]
    if len(items) > (MAX_PAYLOAD_BYTES - 1) // 3:
        raise ValueError(f"{len(items)} heaters on at once do not fit one SET_POWERS frame")
    out = bytearray((len(items),))
    for index, code in items:
        if not (0 <= index < MAX_INDEXED_ITEMS and 0 <= code <= 0xFFFF):
            raise ValueError(f"heater index {index} or power code {code} does not fit the wire")
        out += struct.pack("<BH", index, code)
    return bytes(out)


def decode_powers(payload: bytes) -> dict[int, float]:
    if not payload or len(payload) != 1 + 3 * payload[0]:
        raise ProtocolError(f"SET_POWERS payload of {len(payload)} bytes is malformed")
    pairs = struct.iter_unpack("<BH", payload[1:])
    return {index: code / POWER_CODES_PER_MW for index, code in pairs}


def encode_error(code: ErrorCode, message: str) -> bytes:
    return bytes((code,)) + message.encode()[: MAX_PAYLOAD_BYTES - 1]


def decode_error(payload: bytes) -> tuple[int, str]:
    if not payload:
        return ErrorCode.INTERNAL, "empty error reply"
    return payload[0], payload[1:].decode(errors="replace")
