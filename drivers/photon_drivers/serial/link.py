"""One request/reply link over a pyserial port: timeouts, retries, resync, reconnect, counters.

The link turns "send this command, give me its reply payload" into bytes on any port pyserial's
`serial_for_url` opens — a real `/dev/ttyUSB0`, a pty, `socket://host:port`, `loop://` — and
owns everything that goes wrong on a wire:

- a reply that does not come within `timeout_s` is retried after a back-off that doubles from
  `backoff_s` up to `timeout_s`, for `attempts` tries in all; so a call to a silent device
  fails within 2 x attempts x timeout_s;
- a corrupted frame is counted and the request is re-sent at once (the reply it hid is lost);
  the decoder drops everything up to the next 0x00, which is how it resynchronises;
- a reply carrying another sequence number (a late answer to an earlier try, or our own echo
  on `loop://`) is counted as stale and ignored;
- a port that raises (unplugged adapter, closed pty, reset socket) is closed and re-opened on
  the next try; after each (re)connect the `handshake` runs before any other request. A port
  that cannot be opened fails the call at once: an unplugged adapter stays away for seconds,
  and the caller (the daemon's circuit breaker) decides when to try again.

Every command of the protocol is idempotent (powers are a complete set), so re-sending one
whose reply was lost is always safe. pyserial's exceptions are translated to DriverError here
and nowhere else. The link is not thread-safe: its one caller (the driver) serialises.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol, cast

import serial

from photon_drivers.interface import DriverError
from photon_drivers.serial.protocol import Command, Frame, FrameDecoder, decode_error, encode_frame

log = logging.getLogger("photon_drivers.serial")

try:  # pyserial lets termios.error through from a pty whose other side has gone (EIO)
    from termios import error as _termios_error

    _PORT_ERRORS: tuple[type[Exception], ...] = (serial.SerialException, OSError, _termios_error)
except ImportError:  # not a POSIX system
    _PORT_ERRORS = (serial.SerialException, OSError)
# A malformed URL or setting is reported as ValueError by serial_for_url.
_OPEN_ERRORS: tuple[type[Exception], ...] = (*_PORT_ERRORS, ValueError)

# How often the port is polled while waiting: bounds how late a timeout is noticed.
_POLL_S = 0.01
# Counters are logged when they changed, at most this often, and once more on close.
_LOG_INTERVAL_S = 5.0


class _Port(Protocol):
    """What the link uses of a pyserial port (every URL handler's class provides it)."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


class DeviceRefused(DriverError):
    """The device answered with an error reply: the request itself was wrong, retry won't help."""


@dataclass(frozen=True)
class LinkSettings:
    url: str
    baud: int = 115_200
    timeout_s: float = 0.1
    attempts: int = 5
    backoff_s: float = 0.01


@dataclass
class LinkCounters:
    """What happened on the wire since the link was made; all monotonic."""

    requests: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    corrupt_frames: int = 0
    stale_replies: int = 0
    timeouts: int = 0
    retries: int = 0
    error_replies: int = 0
    link_errors: int = 0
    reconnects: int = 0
    failed_requests: int = 0


class _Timeout(Exception):
    pass


class _Corrupt(Exception):
    pass


class SerialLink:
    """A port plus the protocol's transaction rules.

    Args:
        settings: where and how to connect.
        handshake: called after every (re)connect with the link, before any other request;
            an exception from it closes the port again.
    """

    def __init__(self, settings: LinkSettings, handshake: Callable[[SerialLink], None]) -> None:
        self.settings = settings
        self.counters = LinkCounters()
        self._handshake = handshake
        self._port: _Port | None = None
        self._decoder = FrameDecoder()
        self._seq = 0
        self._connected_once = False
        self._in_handshake = False
        self._logged = LinkCounters()
        self._logged_at_s = time.monotonic()

    def connect(self) -> None:
        """Open the port and handshake, unless open already. Raises DriverError."""
        if self._port is not None:
            return
        if self._in_handshake:
            raise DriverError(f"serial link {self.settings.url!r} lost during the handshake")
        try:
            port = serial.serial_for_url(
                self.settings.url,
                baudrate=self.settings.baud,
                timeout=min(_POLL_S, self.settings.timeout_s),
                write_timeout=max(1.0, self.settings.timeout_s),
            )
        except _OPEN_ERRORS as exc:
            raise DriverError(f"cannot open serial port {self.settings.url!r}: {exc}") from exc
        self._port = cast(_Port, port)
        self._in_handshake = True
        try:
            self._handshake(self)
        except BaseException:
            self._drop_port()
            raise
        finally:
            self._in_handshake = False
        if self._connected_once:
            self.counters.reconnects += 1
            log.warning("serial link reconnected", extra={"port": self.settings.url})
        self._connected_once = True

    def request(self, command: Command, payload: bytes = b"") -> bytes:
        """Send a command and return its reply's payload, retrying as the module describes.

        Raises:
            DeviceRefused: the device answered with an error reply.
            DriverError: no valid reply after every attempt (the last cause is named).
        """
        self.counters.requests += 1
        backoff_s = self.settings.backoff_s
        last = "no attempt made"
        for attempt in range(self.settings.attempts):
            if attempt:
                self.counters.retries += 1
            try:
                self.connect()  # a port that cannot be opened fails the call now, see above
            except DriverError:
                self.counters.failed_requests += 1
                raise
            try:
                reply = self._exchange(command, payload)
            except _Corrupt:
                last = "corrupted reply"
                continue
            except (_Timeout, DriverError) as exc:
                last = str(exc) or f"no reply within {self.settings.timeout_s} s"
                log.debug("serial retry", extra={"command": command.name, "cause": last})
                time.sleep(backoff_s)
                backoff_s = min(2 * backoff_s, self.settings.timeout_s)
                continue
            if reply.is_error:
                self.counters.error_replies += 1
                code, message = decode_error(reply.payload)
                raise DeviceRefused(f"device refused {command.name}: error {code}: {message}")
            self._maybe_log()
            return reply.payload
        self.counters.failed_requests += 1
        self._maybe_log()
        raise DriverError(
            f"serial {self.settings.url}: {command.name} failed after "
            f"{self.settings.attempts} attempt(s); last: {last}"
        )

    def close(self) -> None:
        self._drop_port()
        self._maybe_log(force=True)

    def _exchange(self, command: Command, payload: bytes) -> Frame:
        port = self._port
        assert port is not None
        self._seq = (self._seq + 1) & 0xFF
        corrupt_before = self._decoder.corrupt_frames
        self._decoder.reset()
        try:
            port.reset_input_buffer()
            port.write(encode_frame(self._seq, command, payload))
            self.counters.frames_sent += 1
            deadline_s = time.monotonic() + self.settings.timeout_s
            while time.monotonic() < deadline_s:
                chunk = port.read(port.in_waiting or 1)
                for frame in self._decoder.feed(chunk):
                    self.counters.frames_received += 1
                    if frame.is_reply and frame.seq == self._seq and frame.base_command == command:
                        return frame
                    self.counters.stale_replies += 1
                if self._decoder.corrupt_frames != corrupt_before:
                    self.counters.corrupt_frames += self._decoder.corrupt_frames - corrupt_before
                    raise _Corrupt
        except _PORT_ERRORS as exc:
            self.counters.link_errors += 1
            self._drop_port()
            log.warning("serial link lost", extra={"port": self.settings.url, "error": str(exc)})
            raise DriverError(f"serial link lost: {exc}") from exc
        self.counters.timeouts += 1
        raise _Timeout

    def _drop_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            # Closing a port that has vanished can fail; it is gone either way.
            with contextlib.suppress(*_PORT_ERRORS):
                port.close()

    def _maybe_log(self, force: bool = False) -> None:
        now_s = time.monotonic()
        if self.counters == self._logged or (
            not force and now_s - self._logged_at_s < _LOG_INTERVAL_S
        ):
            return
        self._logged = LinkCounters(**asdict(self.counters))
        self._logged_at_s = now_s
        log.info("serial link counters", extra={"port": self.settings.url, **asdict(self.counters)})
