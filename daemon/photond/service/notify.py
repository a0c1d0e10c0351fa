"""sd_notify: tell the service manager that photond is ready, how it is, and that it lives.

The protocol (sd_notify(3), "stable and may be reimplemented") is one datagram of
newline-separated `KEY=VALUE` lines to the AF_UNIX socket named by `$NOTIFY_SOCKET`; a name
starting with `@` is in the abstract namespace (a leading NUL byte). Written here rather than
taken from PyPI: `sdnotify` has had no release since 2017 and hides send errors, and
`systemd-python` builds a C extension against libsystemd's headers, a heavy price for one
`sendto`.

`from_environment` takes the variables out of the environment (sd_notify's
`unset_environment`): photond's planning processes are spawned from it, and a child that
inherited `$NOTIFY_SOCKET` could speak for the daemon. Without the variable every call does
nothing, so photond runs the same under a terminal, a test or systemd.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping
from dataclasses import dataclass

log = logging.getLogger("photond.service")


def socket_address(name: str) -> str | bytes:
    """The address to `sendto` for a `$NOTIFY_SOCKET` value: a path, or @name (abstract)."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


def watchdog_interval_s(environ: MutableMapping[str, str], pid: int) -> float | None:
    """`$WATCHDOG_USEC` in seconds, when the watchdog is meant for this process; else None.

    As sd_watchdog_enabled(3): a `$WATCHDOG_PID` naming another process means the watchdog
    is not ours (the variables were inherited); a value that does not parse is logged.
    """
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner and owner != str(pid):
        return None
    try:
        interval_us = int(usec)
    except ValueError:
        interval_us = 0
    if interval_us <= 0:
        log.warning("WATCHDOG_USEC is not a positive integer: watchdog off", extra={"value": usec})
        return None
    return interval_us / 1e6


@dataclass
class Notifier:
    """Sends notifications to one socket; `socket_name` None sends nothing.

    Attributes:
        socket_name: `$NOTIFY_SOCKET` as it was.
        watchdog_s: `$WATCHDOG_USEC` in seconds when the watchdog is on for photond.
    """

    socket_name: str | None = None
    watchdog_s: float | None = None

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        watchdog_s = watchdog_interval_s(env, os.getpid())
        name = env.pop("NOTIFY_SOCKET", None) or None
        for key in ("WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(key, None)
        return cls(name, watchdog_s)

    @property
    def enabled(self) -> bool:
        return self.socket_name is not None

    def send(self, *lines: str) -> bool:
        """Send `KEY=VALUE` lines as one datagram; True when it went out.

        A failed send is logged, never raised: the service manager being away must not take
        the daemon (and its parked devices) down with it.
        """
        if self.socket_name is None:
            return False
        payload = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, socket_address(self.socket_name))
        except OSError as exc:
            log.warning("sd_notify failed", extra={"socket": self.socket_name, "error": str(exc)})
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={_one_line(status)}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={_one_line(status)}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self, monotonic_us: int) -> bool:
        # MONOTONIC_USEC is required with RELOADING=1 by systemd >= 253 (Type=notify-reload).
        return self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_us}")

    def stopping(self, status: str) -> bool:
        return self.send("STOPPING=1", f"STATUS={_one_line(status)}")


def _one_line(text: str) -> str:
    """A STATUS value is one line of the datagram: newlines would start new assignments."""
    return " ".join(text.split())
