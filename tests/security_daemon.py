"""A real photond with a [security] table: tokens of every role, TLS optional, for the tests.

Tokens are made and hashed as `photond hash-token` does; the daemon listens on a temporary Unix
socket and on loopback TCP (port chosen by the kernel, read back from its banner).
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from daemon_process import RunningDaemon, start_daemon
from photond.security.tokens import new_token, token_digest

ROLE_TOKENS = ("viewer", "operator", "operator2", "admin")


@dataclass
class SecureDaemon:
    daemon: RunningDaemon
    tcp: str
    tokens: dict[str, str]
    folder: Path


def write_config(
    folder: Path, extra: str = "", roles: tuple[str, ...] = ROLE_TOKENS
) -> dict[str, str]:
    tokens = {name: new_token() for name in roles}
    lines = ["[security]", extra]
    for name, token in tokens.items():
        role = name.rstrip("0123456789")
        lines += [
            "[[security.tokens]]",
            f'name = "{name}"',
            f'role = "{role}"',
            f'sha256 = "{token_digest(token)}"',
        ]
    (folder / "photond.toml").write_text("\n".join(lines) + "\n")
    return tokens


def start_secure(extra: str = "", tail: str = "", tcp_host: str = "127.0.0.1") -> SecureDaemon:
    """photond with tokens for every role; `extra` goes into [security], `tail` after it."""
    folder = Path(tempfile.mkdtemp(prefix="pds-"))
    tokens = write_config(folder, extra)
    if tail:
        with open(folder / "photond.toml", "a") as f:
            f.write(tail + "\n")
    daemon = start_daemon(
        None, "--config", str(folder / "photond.toml"), "--listen", f"{tcp_host}:0"
    )
    # The banner follows SERVING by a moment.
    deadline = time.monotonic() + 30
    while not (match := re.search(r"listening on ((?:127\.0\.0\.1|localhost):\d+)", daemon.log())):
        assert time.monotonic() < deadline, daemon.log()
        time.sleep(0.05)
    return SecureDaemon(daemon, match.group(1), tokens, folder)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)
