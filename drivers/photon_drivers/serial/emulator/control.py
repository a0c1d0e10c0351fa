"""The run-time fault control: a Unix socket that takes one command per line.

A socket rather than signals, because faults need arguments (a fraction, a sensor, a
duration) and an answer (`stats`); and a Unix socket rather than TCP, so only the local user
can reach it (its file mode follows the umask). Try it with
`socat - UNIX-CONNECT:PATH` or `printf 'corrupt 0.01\\n' | nc -U PATH`.
"""

from __future__ import annotations

import contextlib
import socketserver
import threading
import time
from pathlib import Path

from photon_drivers.serial.emulator.faults import Faults


class ControlServer:
    """Serve `Faults.apply` on a Unix socket at `path`, in a background thread."""

    def __init__(self, path: Path, faults: Faults) -> None:
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    answer = faults.apply(raw.decode(errors="replace"), time.monotonic())
                    self.wfile.write(answer.encode() + b"\n")
                    self.wfile.flush()

        self._server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="emulator-control", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def send_command(path: Path | str, line: str, timeout_s: float = 10.0) -> str:
    """Send one control command and return its answer (a helper for tests and scripts)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(str(path))
        sock.sendall(line.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.decode().strip()
