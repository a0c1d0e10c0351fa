"""Authentication and authorization: from a call's transport and metadata to an `Identity`.

How a caller is known, first match wins:
1. a bearer token (`authorization: Bearer TOKEN` metadata) whose SHA-256 the config lists;
2. a TLS client certificate whose subject the config lists (mutual TLS);
3. the Unix socket: whoever can open it — the socket file is mode 0660, owned by photond's
   user and `unix_socket_group` — gets `unix_socket_role`; or, when [security.unix_users] or
   [security.unix_groups] is set, the role of its peer credentials (`peercred.peer_role`),
   identity `uid:<n>(<user>)`, and none (UNAUTHENTICATED) when no line names it.

gRPC's core never reads a Unix-socket peer's credentials (the auth context of a UDS call is
empty; grpc/grpc#15511, #28755) and grpcio cannot serve a connection photond accepted itself.
So with a uid/gid mapping photond accepts on the socket itself and splices each connection to
gRPC's internal socket (`splice`), registering the peer's credentials in `PeerTable` under the
name gRPC then reports as the call's peer.

`AccessControl` holds the policy in force; `reload` swaps in one built from a new config in
one assignment, so a call sees either the old policy or the new one, never a mix. The counts of
open streams and submissions live beside it and survive reloads.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from photond.security.identity import Identity
from photond.security.peercred import PeerCredentials, PeerTable, peer_role
from photond.security.roles import METHOD_ROLES
from photond.security.settings import SecurityConfig, SecurityConfigError
from photond.security.tls import ServerTls
from photond.security.tokens import token_digest

UNIX_SOCKET_IDENTITY = "unix-socket"


class Refused(Exception):
    """A call is refused: `unauthenticated` (no valid identity) or permission denied."""

    def __init__(self, message: str, *, unauthenticated: bool) -> None:
        super().__init__(message)
        self.unauthenticated = unauthenticated


@dataclass(frozen=True)
class AccessPolicy:
    config: SecurityConfig
    by_digest: Mapping[str, Identity]
    by_subject: Mapping[str, Identity]

    def identify(
        self,
        peer: str,
        auth_context: Mapping[str, Iterable[bytes]],
        metadata: Iterable[tuple[str, object]],
        unix_peer: PeerCredentials | None = None,
    ) -> Identity:
        """The caller's identity, or Refused(unauthenticated=True) saying what is missing.
        `unix_peer`: the credentials of a call the splicer passed on (`PeerTable.lookup`)."""
        for key, value in metadata:
            if key == "authorization":
                return self._token(value)
        subjects = list(auth_context.get("x509_subject", ()))
        if subjects:
            subject = bytes(subjects[0]).decode(errors="replace")
            identity = self.by_subject.get(subject)
            if identity is None:
                raise Refused(
                    f"client certificate {subject!r} has no role: list its subject under "
                    "[[security.certificates]]",
                    unauthenticated=True,
                )
            return identity
        if unix_peer is not None:
            return self._unix_peer(unix_peer)
        if peer.startswith("unix:"):
            if self.config.unix_peers:
                # Only photond's user (or root) reaches gRPC's internal socket directly.
                raise Refused(
                    "this call did not come through photond's Unix socket, so its peer "
                    "credentials are unknown",
                    unauthenticated=True,
                )
            if self.config.unix_socket_role is None:
                raise Refused(
                    "this daemon needs a bearer token on its Unix socket "
                    '(unix_socket_role = "none")',
                    unauthenticated=True,
                )
            return Identity(UNIX_SOCKET_IDENTITY, self.config.unix_socket_role)
        raise Refused(
            "this listener needs a bearer token (metadata 'authorization: Bearer TOKEN') "
            "or a client certificate",
            unauthenticated=True,
        )

    def _unix_peer(self, peer: PeerCredentials) -> Identity:
        role = peer_role(self.config, peer, os.geteuid())
        if role is None:
            raise Refused(
                f"{peer.describe()} has no role on this daemon: name the user under "
                "[security.unix_users] or a group under [security.unix_groups], or send a "
                "bearer token",
                unauthenticated=True,
            )
        return Identity(peer.identity_name, role)

    def _token(self, value: object) -> Identity:
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused("authorization metadata must be 'Bearer TOKEN'", unauthenticated=True)
        identity = self.by_digest.get(token_digest(token.strip()))
        if identity is None:
            raise Refused("unknown bearer token", unauthenticated=True)
        return identity


def authorize(identity: Identity, method: str) -> None:
    """Refused (permission denied) unless `identity`'s role reaches the method's role."""
    needed = METHOD_ROLES.get(method)
    if needed is None:
        raise Refused(f"{method} is not open to any role", unauthenticated=False)
    if identity.role < needed:
        name = method.rsplit("/", 1)[-1]
        raise Refused(
            f"{name} needs the {needed.label} role; {identity.name} has {identity.role.label}",
            unauthenticated=False,
        )


def build_policy(config: SecurityConfig) -> AccessPolicy:
    """The live policy of `config`: what a reload calls with the new file's [security]."""
    return AccessPolicy(
        config=config,
        by_digest={t.sha256: Identity(f"token:{t.name}", t.role) for t in config.tokens},
        by_subject={c.subject: Identity(f"cert:{c.subject}", c.role) for c in config.certificates},
    )


class Quotas:
    """Open calls per identity and kind; `acquire` refuses beyond the limit given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Counter[tuple[str, str]] = Counter()

    def acquire(self, kind: str, who: str, limit: int) -> bool:
        with self._lock:
            if self._open[kind, who] >= limit:
                return False
            self._open[kind, who] += 1
            return True

    def release(self, kind: str, who: str) -> None:
        with self._lock:
            self._open[kind, who] -= 1
            if self._open[kind, who] <= 0:
                del self._open[kind, who]


class AccessControl:
    """The policy in force, the open-call counts, and the TCP listeners' TLS."""

    def __init__(self, config: SecurityConfig) -> None:
        self.policy = build_policy(config)
        self.quotas = Quotas()
        # Credentials of the Unix socket's spliced connections (filled by `splice.Splicer`).
        self.peers = PeerTable()
        self.tls = ServerTls(config.tls) if config.tls is not None else None

    @property
    def config(self) -> SecurityConfig:
        return self.policy.config

    def identify(
        self,
        peer: str,
        auth_context: Mapping[str, Iterable[bytes]],
        metadata: Iterable[tuple[str, object]],
    ) -> Identity:
        """The caller's identity under the policy in force (see `AccessPolicy.identify`)."""
        return self.policy.identify(peer, auth_context, metadata, self.peers.lookup(peer))

    def reload(self, config: SecurityConfig) -> None:
        """Apply a new [security] table, or raise SecurityConfigError and keep the old one."""
        self.prepare_reload(config)()

    def prepare_reload(self, config: SecurityConfig) -> Callable[[], None]:
        """Check and read everything a new [security] table needs (SecurityConfigError when it
        cannot apply) and return the commit, plain assignments that cannot fail.

        Tokens, certificate subjects, roles, limits and the TLS files change at once for new
        calls (new connections, for TLS). What needs a restart is refused: TLS added, removed
        or switched to or from mutual TLS, the socket's group (the socket exists already), and
        peer credentials switched on or off (the uid/gid lines themselves change at once).
        """
        if config.unix_socket_group != self.config.unix_socket_group:
            raise SecurityConfigError("security.unix_socket_group: changing it needs a restart")
        if config.unix_peers != self.config.unix_peers:
            # The socket is either gRPC's own or the splicer's: chosen when it is bound.
            raise SecurityConfigError(
                "security.unix_users, security.unix_groups: adding the first or removing the "
                "last needs a restart (the Unix socket changes to or from peer credentials)"
            )
        tls, files = self.tls, config.tls
        tls_configuration = None
        if tls is not None:
            tls_configuration = tls.check_reload(files)
        elif files is not None:
            raise SecurityConfigError(
                "security.tls: adding TLS to running listeners needs a restart"
            )
        policy = build_policy(config)

        def commit() -> None:
            if tls is not None and files is not None and tls_configuration is not None:
                tls.apply(files, tls_configuration)
            self.policy = policy

        return commit
