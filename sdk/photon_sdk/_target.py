"""Where clients find the daemon when nobody names it: one rule shared by photond and the SDK.

The daemon imports :data:`DEFAULT_TCP_PORT` and :func:`default_socket_path` from here, so the
address it listens on and the address a client tries first can never drift apart.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_TCP_PORT",
    "SYSTEM_SOCKET_PATH",
    "default_socket_path",
    "default_target",
    "socket_search_path",
]

#: Loopback TCP port the daemon listens on besides its Unix socket.
DEFAULT_TCP_PORT = 7451

#: The socket of the system daemon (the shipped systemd unit's ``RuntimeDirectory=photond``).
SYSTEM_SOCKET_PATH = Path("/run/photond/photond.sock")

_SOCKET_DIR = "photond"
_SOCKET_NAME = "photond.sock"


def default_socket_path() -> Path:
    """Return the absolute path of the daemon's Unix socket.

    ``$XDG_RUNTIME_DIR/photond/photond.sock`` when ``XDG_RUNTIME_DIR`` is set (systemd sets it
    for user services and login sessions), else ``./run/photond.sock`` resolved from the
    current directory, so a daemon started from a checkout is found from the same checkout.
    """
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        return Path(runtime_dir).resolve() / _SOCKET_DIR / _SOCKET_NAME
    return (Path.cwd() / "run" / _SOCKET_NAME).resolve()


def socket_search_path() -> list[Path]:
    """Return where a client looks for the daemon's Unix socket, first choice first.

    The user's own daemon before the system's: ``$XDG_RUNTIME_DIR/photond/photond.sock``
    (when that variable is set), ``./run/photond.sock`` (a daemon ``make run`` started from
    this checkout), then :data:`SYSTEM_SOCKET_PATH` (the systemd service).
    """
    paths = []
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        paths.append(Path(runtime_dir).resolve() / _SOCKET_DIR / _SOCKET_NAME)
    paths.append((Path.cwd() / "run" / _SOCKET_NAME).resolve())
    paths.append(SYSTEM_SOCKET_PATH)
    return paths


def default_target() -> str:
    """Return the gRPC target a client uses when it is given none.

    In order: ``$PHOTON_TARGET`` when set; ``unix:<path>`` for the first path of
    :func:`socket_search_path` where a socket exists (the Unix socket is the daemon's default
    listener and needs no TLS); otherwise ``127.0.0.1:<DEFAULT_TCP_PORT>``.
    """
    explicit = os.environ.get("PHOTON_TARGET")
    if explicit:
        return explicit
    for socket_path in socket_search_path():
        if socket_path.is_socket():
            return f"unix:{socket_path}"
    return f"127.0.0.1:{DEFAULT_TCP_PORT}"
