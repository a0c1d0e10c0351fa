"""The `[security]` table of the config: identities, roles, TLS files and per-identity limits.

Read from the TOML file only (tokens and certificate paths do not belong in environment
variables or on a command line, where other users can read them), checked here with errors
that name the key, and rebuilt into live state by `photond.security.access.build_policy`, which
a reload calls with the new file's table.

    [security]
    unix_socket_group = "photon"      # group of the Unix socket (mode 0660); "" = photond's
    unix_socket_role = "admin"        # role of a caller on the Unix socket without a token
    max_queued_jobs_per_device = 100  # SubmitJob answers RESOURCE_EXHAUSTED beyond
    max_streams_per_identity = 32     # open WatchJob + Subscribe streams of one identity
    max_submissions_per_identity = 4  # SubmitJob calls of one identity in flight at once

    [security.tls]                    # TLS on every TCP listener; needed beyond loopback
    cert_file = "/etc/photond/tls/server.crt"
    key_file = "/etc/photond/tls/server.key"
    client_ca_file = "/etc/photond/tls/clients.crt"  # set: mutual TLS, client cert required

    [[security.tokens]]               # `photond hash-token` prints a token and its line
    name = "alice"
    role = "operator"
    sha256 = "..."

    [[security.certificates]]         # a client certificate's subject (RFC 4514) -> role
    subject = "CN=ci-runner,O=photon lab"
    role = "operator"

    [security.unix_users]             # Unix socket callers by SO_PEERCRED: user or uid -> role
    alice = "admin"
    "1001" = "viewer"
    [security.unix_groups]            # ... by primary or supplementary group (or gid)
    photon-ops = "operator"

Either of the last two tables switches the Unix socket to peer credentials
(`photond.security.splice`); `unix_socket_role` then has no use and is refused beside them.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from photond.security.roles import ROLE_NAMES, Role
from photond.security.tokens import is_digest

# What a Unix-socket caller without a token may be: a role, or "none" (a token is needed).
NO_ROLE = "none"


class SecurityConfigError(ValueError):
    """A [security] setting is invalid; the message names the key."""


@dataclass(frozen=True)
class TokenEntry:
    name: str
    role: Role
    sha256: str


@dataclass(frozen=True)
class CertificateEntry:
    subject: str
    role: Role


@dataclass(frozen=True)
class UnixPeerRole:
    """One line of [security.unix_users] or [security.unix_groups]: `key` as written (a name
    or a number), `id` the uid or gid it names, and the role callers with that id get."""

    key: str
    id: int
    role: Role


@dataclass(frozen=True)
class TlsFiles:
    cert_file: Path
    key_file: Path
    # Set: mutual TLS; every TCP client must present a certificate this CA signed.
    client_ca_file: Path | None = None


@dataclass(frozen=True)
class SecurityConfig:
    unix_socket_group: str = ""
    unix_socket_role: Role | None = Role.ADMIN
    tokens: tuple[TokenEntry, ...] = ()
    certificates: tuple[CertificateEntry, ...] = ()
    tls: TlsFiles | None = None
    # Unix socket callers by peer credentials (SO_PEERCRED): uid -> role, gid -> role.
    unix_users: tuple[UnixPeerRole, ...] = ()
    unix_groups: tuple[UnixPeerRole, ...] = ()
    max_queued_jobs_per_device: int = 100
    max_streams_per_identity: int = 32
    max_submissions_per_identity: int = 4

    @property
    def unix_peers(self) -> bool:
        """Whether Unix socket callers are told apart by their credentials (the socket is
        then spliced: `photond.security.splice`), rather than all getting unix_socket_role."""
        return bool(self.unix_users or self.unix_groups)


_TOP_KEYS = {
    "unix_socket_group",
    "unix_socket_role",
    "max_queued_jobs_per_device",
    "max_streams_per_identity",
    "max_submissions_per_identity",
    "tls",
    "tokens",
    "certificates",
    "unix_users",
    "unix_groups",
}
_LIMIT_KEYS = (
    "max_queued_jobs_per_device",
    "max_streams_per_identity",
    "max_submissions_per_identity",
)


def parse_security(table: Any, base_dir: Path = Path()) -> SecurityConfig:
    """The `[security]` table checked; relative TLS paths are taken from `base_dir` (the
    config file's folder). Raises SecurityConfigError naming the key."""
    if not isinstance(table, Mapping):
        raise SecurityConfigError("security: must be a table")
    unknown = set(table) - _TOP_KEYS
    if unknown:
        raise SecurityConfigError(
            f"security: unknown setting(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}"
        )
    group = _string(table, "unix_socket_group", "")
    if group:
        try:
            grp.getgrnam(group)
        except KeyError:
            raise SecurityConfigError(
                f"security.unix_socket_group: no group {group!r} on this host"
            ) from None
    role_name = _string(table, "unix_socket_role", Role.ADMIN.label)
    unix_role = None if role_name == NO_ROLE else _role(role_name, "security.unix_socket_role")
    unix_users = _unix_peers(table.get("unix_users", {}), "unix_users", _uid)
    unix_groups = _unix_peers(table.get("unix_groups", {}), "unix_groups", _gid)
    if unix_users or unix_groups:
        if "unix_socket_role" in table:
            raise SecurityConfigError(
                "security.unix_socket_role: not used beside unix_users or unix_groups (a caller "
                "in neither is refused UNAUTHENTICATED, photond's own user is admin); remove it"
            )
        unix_role = None
    limits = {}
    for key in _LIMIT_KEYS:
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SecurityConfigError(f"security.{key}: a whole number >= 1, got {value!r}")
            limits[key] = value
    return SecurityConfig(
        unix_socket_group=group,
        unix_socket_role=unix_role,
        tokens=_tokens(table.get("tokens", [])),
        certificates=_certificates(table.get("certificates", [])),
        tls=_tls(table["tls"], base_dir) if "tls" in table else None,
        unix_users=unix_users,
        unix_groups=unix_groups,
        **limits,
    )


def _string(table: Mapping[str, Any], key: str, default: str, where: str = "security") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise SecurityConfigError(f"{where}.{key}: a string, got {value!r}")
    return value


def _role(name: str, where: str) -> Role:
    try:
        return Role.parse(name)
    except ValueError:
        raise SecurityConfigError(
            f"{where}: {name!r} is not a role; one of {', '.join(ROLE_NAMES)}"
        ) from None


def _entries(value: Any, key: str, fields: set[str]) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(e, Mapping) for e in value):
        raise SecurityConfigError(f"security.{key}: an array of tables ([[security.{key}]])")
    for n, entry in enumerate(value):
        unknown = set(entry) - fields
        missing = fields - set(entry)
        if unknown or missing:
            raise SecurityConfigError(
                f"security.{key}[{n}]: needs exactly {sorted(fields)}"
                + (f"; unknown {sorted(unknown)}" if unknown else "")
                + (f"; missing {sorted(missing)}" if missing else "")
            )
    return value


def _tokens(value: Any) -> tuple[TokenEntry, ...]:
    out = []
    for n, entry in enumerate(_entries(value, "tokens", {"name", "role", "sha256"})):
        where = f"security.tokens[{n}]"
        name = _string(entry, "name", "", where)
        digest = _string(entry, "sha256", "", where).lower()
        if not name:
            raise SecurityConfigError(f"{where}.name: must not be empty")
        if not is_digest(digest):
            raise SecurityConfigError(
                f"{where}.sha256: 64 hex digits (the token's SHA-256; `photond hash-token` "
                "prints it), not the token itself"
            )
        out.append(
            TokenEntry(name, _role(_string(entry, "role", "", where), f"{where}.role"), digest)
        )
    _unique([t.name for t in out], "security.tokens", "name")
    _unique([t.sha256 for t in out], "security.tokens", "sha256")
    return tuple(out)


def _certificates(value: Any) -> tuple[CertificateEntry, ...]:
    out = []
    for n, entry in enumerate(_entries(value, "certificates", {"subject", "role"})):
        where = f"security.certificates[{n}]"
        subject = _string(entry, "subject", "", where)
        if "=" not in subject:
            raise SecurityConfigError(
                f"{where}.subject: a distinguished name like 'CN=alice,O=lab', got {subject!r}"
            )
        out.append(
            CertificateEntry(subject, _role(_string(entry, "role", "", where), f"{where}.role"))
        )
    _unique([c.subject for c in out], "security.certificates", "subject")
    return tuple(out)


def _uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    return grp.getgrnam(name).gr_gid


def _unix_peers(value: Any, key: str, lookup: Any) -> tuple[UnixPeerRole, ...]:
    """A table of user (or group) names or numeric ids to roles; names are looked up now, so a
    name this host does not know is an error at start-up, not a caller refused later."""
    where = f"security.{key}"
    kind = "user" if key == "unix_users" else "group"
    if not isinstance(value, Mapping):
        raise SecurityConfigError(f"{where}: a table of {kind} name or number = role")
    out: list[UnixPeerRole] = []
    by_id: dict[int, str] = {}
    for name, role_name in value.items():
        if name.isdigit():
            number = int(name)
        else:
            try:
                number = lookup(name)
            except KeyError:
                raise SecurityConfigError(
                    f"{where}.{name}: no {kind} {name!r} on this host (a name or a number)"
                ) from None
        if number in by_id:
            raise SecurityConfigError(
                f"{where}: {by_id[number]!r} and {name!r} are the same {kind} ({number})"
            )
        by_id[number] = name
        if not isinstance(role_name, str):
            raise SecurityConfigError(f"{where}.{name}: a role name, got {role_name!r}")
        out.append(UnixPeerRole(name, number, _role(role_name, f"{where}.{name}")))
    return tuple(out)


def _unique(values: list[str], key: str, field: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise SecurityConfigError(f"{key}: two entries have the same {field} {value!r}")
        seen.add(value)


def _tls(value: Any, base_dir: Path) -> TlsFiles:
    if not isinstance(value, Mapping):
        raise SecurityConfigError("security.tls: must be a table")
    known = {"cert_file", "key_file", "client_ca_file"}
    unknown = set(value) - known
    if unknown:
        raise SecurityConfigError(f"security.tls: unknown setting(s) {sorted(unknown)}")
    paths = {}
    for key in known:
        text = _string(value, key, "", "security.tls")
        if not text and key != "client_ca_file":
            raise SecurityConfigError(f"security.tls.{key}: a file path is needed")
        paths[key] = base_dir / text if text else None
    cert, key_file = paths["cert_file"], paths["key_file"]
    assert cert is not None and key_file is not None
    return TlsFiles(cert, key_file, paths["client_ca_file"])
