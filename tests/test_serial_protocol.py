"""The sans-I/O codec: frames survive the wire, garbage is counted and skipped, payloads fit."""

from __future__ import annotations

import math

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from photon_drivers.serial.protocol import (
    ERROR,
    MAX_PAYLOAD_BYTES,
    REPLY,
    Command,
    ErrorCode,
    Frame,
    FrameDecoder,
    Identity,
    ProtocolError,
    cobs_decode,
    cobs_encode,
    decode_error,
    decode_identity,
    decode_powers,
    decode_temperatures,
    encode_error,
    encode_frame,
    encode_identity,
    encode_powers,
    encode_temperatures,
)

payloads = st.binary(max_size=MAX_PAYLOAD_BYTES)


@given(st.binary(max_size=1000))
def test_cobs_round_trips_and_removes_zeros(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


def test_cobs_known_vectors() -> None:
    assert cobs_encode(b"\x00") == b"\x01\x01"
    assert cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert cobs_encode(b"\x11\x00\x00\x00") == b"\x02\x11\x01\x01\x01"


@given(st.integers(0, 255), st.integers(0, 255), payloads)
def test_frame_round_trips(seq: int, command: int, payload: bytes) -> None:
    wire = encode_frame(seq, command, payload)
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    decoder = FrameDecoder()
    assert decoder.feed(wire) == [Frame(seq, command, payload)]
    assert decoder.corrupt_frames == 0


def test_decoder_takes_a_byte_at_a_time() -> None:
    wire = encode_frame(7, Command.PING) + encode_frame(8, Command.READ_SENSORS)
    decoder = FrameDecoder()
    frames = [f for byte in wire for f in decoder.feed(bytes([byte]))]
    assert [f.seq for f in frames] == [7, 8]


def test_decoder_resyncs_after_garbage() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(b"\x13\x37\xa5\xff\x01" + encode_frame(3, Command.PING, b"hi"))
    assert frames == [Frame(3, Command.PING, b"hi")]
    assert decoder.corrupt_frames == 1


def test_every_single_bit_flip_is_caught() -> None:
    wire = encode_frame(9, Command.SET_POWERS, encode_powers({1: 12.5, 40: 3.0}))
    for i in range(1, len(wire) - 1):
        for bit in range(8):
            bad = bytearray(wire)
            bad[i] ^= 1 << bit
            decoder = FrameDecoder()
            assert decoder.feed(bytes(bad)) == [], f"flip of byte {i} bit {bit} went unnoticed"
            assert decoder.corrupt_frames >= 1


def test_overlong_run_without_delimiter_is_dropped() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x01" * 1000) == []
    assert decoder.feed(encode_frame(1, Command.PING)) == [Frame(1, Command.PING, b"")]
    assert decoder.corrupt_frames == 1


def test_reset_forgets_a_partial_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(encode_frame(1, Command.PING)[:-3])
    decoder.reset()
    assert decoder.feed(b"\x05\x00") == []  # the tail alone is one bad chunk, not a merge
    assert decoder.feed(encode_frame(2, Command.PING)) == [Frame(2, Command.PING, b"")]


def test_reply_and_error_flags() -> None:
    reply = Frame(1, Command.PING | REPLY, b"")
    error = Frame(1, Command.PING | REPLY | ERROR, encode_error(ErrorCode.BAD_PAYLOAD, "no"))
    assert reply.is_reply and not reply.is_error and reply.base_command == Command.PING
    assert error.is_error and decode_error(error.payload) == (ErrorCode.BAD_PAYLOAD, "no")


def test_temperatures_carry_failed_sensors_as_nan() -> None:
    payload = encode_temperatures([25.0, math.nan, -12.34, 1e9])
    assert len(payload) == 8
    back = decode_temperatures(payload, 4)
    assert back[0] == 25.0 and back[2] == -12.34
    assert math.isnan(back[1]) and math.isnan(back[3])
    with pytest.raises(ProtocolError, match="expected 6"):
        decode_temperatures(payload, 3)


def test_powers_are_sparse_and_exact_to_ten_microwatts() -> None:
    payload = encode_powers({5: 30.0, 2: 0.0, 63: 0.004, 7: 12.346})
    assert payload[0] == 2, "zeros (and powers that round to zero) are not sent"
    assert decode_powers(payload) == {5: 30.0, 7: 12.35}
    assert decode_powers(encode_powers({})) == {}
    with pytest.raises(ProtocolError):
        decode_powers(payload[:-1])
    with pytest.raises(ValueError, match="does not fit"):
        encode_powers({300: 1.0})


def test_identity_round_trips() -> None:
    identity = Identity(1, 64, 16, "photon-mesh-8x8")
    assert decode_identity(encode_identity(identity)) == identity
    with pytest.raises(ProtocolError):
        decode_identity(b"\x01")


def test_frames_cross_a_real_pyserial_loop_port() -> None:
    """loop:// is pyserial's own loopback: the bytes go through its port machinery."""
    port = serial.serial_for_url("loop://", timeout=1)
    try:
        port.write(encode_frame(42, Command.READ_SENSORS))
        data = port.read(port.in_waiting)
    finally:
        port.close()
    assert FrameDecoder().feed(data) == [Frame(42, Command.READ_SENSORS, b"")]


def test_crc_is_ccitt_false() -> None:
    """The catalogue check value of CRC-16/CCITT-FALSE, so firmware authors can verify theirs."""
    from photon_drivers.serial.protocol import crc16

    assert crc16(b"123456789") == 0x29B1
