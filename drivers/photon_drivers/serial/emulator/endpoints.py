"""Where the emulated firmware's UART comes out: a pty pair or a TCP port.

A pty is what a USB-serial adapter looks like to the host, so the driver opens it exactly as
it would open `/dev/ttyUSB0` — with termios, through pyserial. A pty's name changes every
time one is made, so for unplug-and-replug tests the endpoint keeps a stable symlink to the
current one (as udev keeps `/dev/serial/by-id/...`). A pty moves bytes as fast as the kernel
copies them whatever baud rate is set on it; the emulator's `--pace-baud` adds the line time.
TCP is what `socket://host:port` reaches: a serial-to-Ethernet bridge.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import tty
from pathlib import Path
from typing import Protocol

_READ_BYTES = 4096


class Endpoint(Protocol):
    """One end of the emulated serial line."""

    @property
    def address(self) -> str:
        """What to give the driver as its `port` option."""
        ...

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def read(self, timeout_s: float) -> bytes:
        """Bytes received within `timeout_s`; b"" when none (or no peer)."""
        ...

    def write(self, data: bytes) -> None:
        """Send, or lose the bytes when nobody listens (as a UART would)."""
        ...


class PtyEndpoint:
    """A pty pair; the host opens the slave side (or `link`, a symlink to it)."""

    def __init__(self, link: Path | None = None) -> None:
        self.link = link
        self._master = -1
        self._slave = -1
        self._slave_name = ""

    @property
    def address(self) -> str:
        return str(self.link) if self.link is not None else self._slave_name

    def connect(self) -> None:
        self._master, self._slave = os.openpty()
        # Raw from the start: a cooked pty would echo the host's bytes before pyserial opens
        # it. We hold the slave open too, so the master never reads EIO while the host is away.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._slave_name = os.ttyname(self._slave)
        if self.link is not None:
            temporary = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(self._slave_name)
            temporary.replace(self.link)

    def disconnect(self) -> None:
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def read(self, timeout_s: float) -> bytes:
        readable, _, _ = select.select([self._master], [], [], timeout_s)
        if not readable:
            return b""
        try:
            return os.read(self._master, _READ_BYTES)
        except BlockingIOError:
            return b""

    def write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except BlockingIOError:
            pass  # the host has stopped reading and the pty buffer is full: bytes are lost
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise


class TcpEndpoint:
    """A listening TCP port serving one client at a time, like a serial-to-Ethernet bridge."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None

    @property
    def address(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def connect(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1)
        self.port = listener.getsockname()[1]  # keep the port across reconnects
        self._listener = listener

    def disconnect(self) -> None:
        self._drop_client()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def read(self, timeout_s: float) -> bytes:
        if self._client is None:
            assert self._listener is not None
            readable, _, _ = select.select([self._listener], [], [], timeout_s)
            if readable:
                self._client, _ = self._listener.accept()
                self._client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return b""
        readable, _, _ = select.select([self._client], [], [], timeout_s)
        if not readable:
            return b""
        try:
            data = self._client.recv(_READ_BYTES)
        except OSError:
            data = b""
        if not data:
            self._drop_client()  # the host went away; wait for the next one
        return data

    def write(self, data: bytes) -> None:
        if self._client is None:
            return
        try:
            self._client.sendall(data)
        except OSError:
            self._drop_client()

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
