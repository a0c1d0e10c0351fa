"""File modes of what photond makes on disk: state directory 0700, journal 0600, socket 0660.

The journal holds every job's graph and who submitted it; the socket grants a role to whoever
can open it (`access`): neither follows the umask photond was started with.
"""

from __future__ import annotations

import contextlib
import grp
import os
from collections.abc import Iterator
from pathlib import Path

STATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SOCKET_MODE = 0o660


def private_directory(path: Path) -> None:
    """Create `path` (and parents) and make it 0700: only photond's user enters."""
    path.mkdir(parents=True, exist_ok=True, mode=STATE_DIR_MODE)
    os.chmod(path, STATE_DIR_MODE)


def private_file(path: Path) -> None:
    """Create `path` empty if missing and make it 0600. SQLite gives the files it adds beside a
    database (-wal, -shm) the database's mode, so making the journal first covers them."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


@contextlib.contextmanager
def owner_only_umask() -> Iterator[None]:
    """Whatever is created inside is at most 0700: a socket bound here cannot be opened by
    anyone else before `share_socket` sets its final mode."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def share_socket(path: Path, group: str) -> None:
    """Make the Unix socket at `path` mode 0660, in `group` when one is named (photond's
    user must be a member, or the change is refused by the kernel and reported)."""
    if group:
        try:
            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        except (KeyError, PermissionError) as exc:
            raise RuntimeError(
                f"security.unix_socket_group: cannot give {path} to group {group!r} ({exc})"
            ) from None
    os.chmod(path, SOCKET_MODE)
