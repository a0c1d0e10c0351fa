"""Who is on the other end of a Unix socket: the kernel's peer credentials, and their role.

`read_peer_credentials` asks the kernel for the uid, gid and pid the connecting process had
when it called connect() (SO_PEERCRED), and its supplementary groups at that moment
(SO_PEERGROUPS, Linux 4.13+). Both are recorded by the kernel at connect time, so neither races
with the process exiting or changing its credentials afterwards — unlike reading
`/proc/<pid>/status`, whose pid may already name another process, and unlike the group database
(`getpwuid` + `os.getgrouplist`), which credits a process with groups it may have dropped and
costs an NSS lookup (LDAP on some lab machines) per connection.

`PeerTable` is how the splicer (`photond.security.splice`) tells the access policy who is
behind a spliced connection: the splicer registers each connection's credentials under the
abstract socket name it connected to gRPC from, and gRPC reports that name as the call's peer.

`peer_role` is the policy: a uid in [security.unix_users] gets that role; else photond's own
user is admin; else the highest role of the caller's groups (primary or supplementary) in
[security.unix_groups]; else none (refused UNAUTHENTICATED by `access`).
"""

from __future__ import annotations

import errno
import pwd
import socket
import struct
import threading
from dataclasses import dataclass

from photond.security.roles import Role
from photond.security.settings import SecurityConfig

# Not in Python's socket module; 59 on Linux's generic socket numbers (x86, arm, riscv, ...).
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
# Python's getsockopt reads at most 1024 bytes: 256 groups (gid_t is 4 bytes).
_MAX_GROUP_BYTES = 1024
# The prefix of the abstract socket names the splicer connects to gRPC from.
PEER_NAME_PREFIX = "photond-peer/"
_PEER_ADDRESS_PREFIX = "unix-abstract:" + PEER_NAME_PREFIX


@dataclass(frozen=True)
class PeerCredentials:
    """A Unix socket peer as the kernel saw it at connect(); `user` is the uid's name, or ""
    when the user database has none."""

    pid: int
    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    user: str = ""

    @property
    def identity_name(self) -> str:
        """`uid:<n>(<user>)`: the name in audit lines, job owners and per-identity limits."""
        return f"uid:{self.uid}({self.user})" if self.user else f"uid:{self.uid}"

    def describe(self) -> str:
        groups = ",".join(str(g) for g in self.groups) or "none"
        return f"{self.identity_name} gid {self.gid} groups {groups}"


def read_peer_credentials(sock: socket.socket) -> PeerCredentials:
    """The connected Unix socket's peer: pid, uid, gid, supplementary groups (no user name:
    that lookup may block, see `user_name`).

    A peer in more than 256 groups (beyond what Python's getsockopt can read) is credited with
    its primary group only: fewer groups never give a higher role (`peer_role`).
    """
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    groups: tuple[int, ...] = ()
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, _MAX_GROUP_BYTES)
        groups = struct.unpack(f"{len(raw) // 4}I", raw[: len(raw) // 4 * 4])
    except OSError as exc:
        if exc.errno not in (errno.ERANGE, errno.ENOPROTOOPT):
            raise
    return PeerCredentials(pid, uid, gid, tuple(groups))


def user_name(uid: int) -> str:
    """The uid's login name, or "" when the user database has none (a uid may exist without
    an entry, in a container above all). May block on NSS: call it off the event loop."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


def peer_role(config: SecurityConfig, peer: PeerCredentials, own_uid: int) -> Role | None:
    """The role `config` gives `peer`, or None when it gives none.

    A user's own line wins over their groups', so a lab can put one person below their group;
    photond's own user is admin unless its line says otherwise (it owns the socket, the state
    and the config, and `make run` works as it did); otherwise the highest role of any of the
    caller's groups.
    """
    for entry in config.unix_users:
        if entry.id == peer.uid:
            return entry.role
    if peer.uid == own_uid:
        return Role.ADMIN
    ids = {peer.gid, *peer.groups}
    roles = [entry.role for entry in config.unix_groups if entry.id in ids]
    return max(roles) if roles else None


class PeerTable:
    """The credentials behind each spliced connection, by the abstract name it came from.

    Written by the splicer's thread as connections open and close, read by the RPC side at the
    start of each call: only photond can connect to gRPC's internal socket, and only names the
    splicer registered resolve, so a client cannot claim another's credentials by its name.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, PeerCredentials] = {}

    def add(self, name: str, peer: PeerCredentials) -> None:
        with self._lock:
            self._by_name[name] = peer

    def discard(self, name: str) -> None:
        with self._lock:
            self._by_name.pop(name, None)

    def lookup(self, grpc_peer: str) -> PeerCredentials | None:
        """The credentials of a call whose `context.peer()` is `grpc_peer`, if spliced."""
        if not grpc_peer.startswith(_PEER_ADDRESS_PREFIX):
            return None
        with self._lock:
            return self._by_name.get(grpc_peer[len("unix-abstract:") :])

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_name)
