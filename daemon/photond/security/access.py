"""Authentication and authorization: from a call's transport and metadata to an `Identity`.

How a caller is known, first match wins:
1. a bearer token (`authorization: Bearer TOKEN` metadata) whose SHA-256 the config lists;
2. a TLS client certificate whose subject the config lists (mutual TLS);
3. the Unix socket: whoever can open it — the socket file is mode 0660, owned by photond's
   user and `unix_socket_group` — gets `unix_socket_role`.

Why not SO_PEERCRED: gRPC's core never reads a Unix-socket peer's credentials (the auth
context of a UDS call is empty; grpc/grpc#15511, #28755), and grpcio offers no way to accept
connections ourselves and hand gRPC the descriptor. So the kernel's check is the file's mode
and group at connect time, and a per-user identity on the socket is a token.

`AccessControl` holds the policy in force; `reload` swaps in one built from a new config in
one assignment, so a call sees either the old policy or the new one, never a mix. The counts of
open streams and submissions live beside it and survive reloads.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from photond.security.identity import Identity
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
    ) -> Identity:
        """The caller's identity, or Refused(unauthenticated=True) saying what is missing."""
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
        if peer.startswith("unix:"):
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
        self.tls = ServerTls(config.tls) if config.tls is not None else None

    @property
    def config(self) -> SecurityConfig:
        return self.policy.config

    def reload(self, config: SecurityConfig) -> None:
        """Apply a new [security] table, or raise SecurityConfigError and keep the old one."""
        self.prepare_reload(config)()

    def prepare_reload(self, config: SecurityConfig) -> Callable[[], None]:
        """Check and read everything a new [security] table needs (SecurityConfigError when it
        cannot apply) and return the commit, plain assignments that cannot fail.

        Tokens, certificate subjects, roles, limits and the TLS files change at once for new
        calls (new connections, for TLS). What needs a restart is refused: TLS added, removed
        or switched to or from mutual TLS, and the socket's group (the socket exists already).
        """
        if config.unix_socket_group != self.config.unix_socket_group:
            raise SecurityConfigError("security.unix_socket_group: changing it needs a restart")
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
