"""Identification and authorization, and the reload that swaps them, without a server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from certs import CertificateAuthority
from photond.security.access import AccessControl, Quotas, Refused, authorize, build_policy
from photond.security.identity import Identity
from photond.security.roles import METHOD_ROLES, Role
from photond.security.settings import (
    CertificateEntry,
    SecurityConfig,
    SecurityConfigError,
    TlsFiles,
    TokenEntry,
)
from photond.security.tokens import new_token, token_digest

TOKEN = new_token()
CONFIG = SecurityConfig(
    tokens=(TokenEntry("alice", Role.OPERATOR, token_digest(TOKEN)),),
    certificates=(CertificateEntry("CN=ci,O=lab", Role.VIEWER),),
)
TCP = "ipv4:127.0.0.1:50000"


def identify(
    peer: str,
    auth: dict[str, list[bytes]],
    md: Sequence[tuple[str, object]],
    config: SecurityConfig = CONFIG,
) -> Identity:
    return build_policy(config).identify(peer, auth, md)


def test_a_listed_token_is_its_identity_anywhere() -> None:
    md = [("authorization", f"Bearer {TOKEN}")]
    assert identify(TCP, {}, md) == Identity("token:alice", Role.OPERATOR)
    # On the Unix socket a token wins over the socket's role.
    assert identify("unix:", {}, md) == Identity("token:alice", Role.OPERATOR)


# Named ids: the bare token is new each run, and parallel workers must collect the same tests.
@pytest.mark.parametrize(
    "value",
    ["Bearer pt_unknown-token-xxxxxxxx", "Basic abc", "Bearer ", TOKEN],
    ids=["unknown token", "basic scheme", "empty bearer", "token without scheme"],
)
def test_bad_authorization_is_unauthenticated(value: str) -> None:
    with pytest.raises(Refused) as refused:
        identify("unix:", {}, [("authorization", value)])
    assert refused.value.unauthenticated


def test_certificate_subject_maps_to_its_role() -> None:
    auth = {"x509_subject": [b"CN=ci,O=lab"], "transport_security_type": [b"ssl"]}
    assert identify(TCP, auth, []) == Identity("cert:CN=ci,O=lab", Role.VIEWER)
    with pytest.raises(Refused, match="has no role"):
        identify(TCP, {"x509_subject": [b"CN=stranger"]}, [])


def test_tcp_without_credentials_is_unauthenticated_and_the_socket_gets_its_role() -> None:
    with pytest.raises(Refused, match="needs a bearer token"):
        identify(TCP, {}, [])
    assert identify("unix:", {}, []) == Identity("unix-socket", Role.ADMIN)
    locked = SecurityConfig(unix_socket_role=None)
    with pytest.raises(Refused, match="needs a bearer token on its Unix socket"):
        identify("unix:", {}, [], locked)


def test_authorize_follows_the_role_table() -> None:
    for method, needed in METHOD_ROLES.items():
        for role in Role:
            who = Identity("x", role)
            if role >= needed:
                authorize(who, method)
            else:
                with pytest.raises(Refused) as refused:
                    authorize(who, method)
                assert not refused.value.unauthenticated
    with pytest.raises(Refused, match="not open to any role"):
        authorize(Identity("x", Role.ADMIN), "/photon.v1.JobService/Unlisted")


def test_operators_cancel_their_own_jobs_admins_anyones() -> None:
    assert Identity("token:a", Role.OPERATOR).may_cancel("token:a")
    assert not Identity("token:a", Role.OPERATOR).may_cancel("token:b")
    assert Identity("token:root", Role.ADMIN).may_cancel("token:b")
    assert not Identity("token:v", Role.VIEWER).may_cancel("token:v")


def test_quotas_count_per_identity_and_kind() -> None:
    quotas = Quotas()
    assert quotas.acquire("streams", "a", 2) and quotas.acquire("streams", "a", 2)
    assert not quotas.acquire("streams", "a", 2)
    assert quotas.acquire("streams", "b", 2) and quotas.acquire("submissions", "a", 1)
    quotas.release("streams", "a")
    assert quotas.acquire("streams", "a", 2)


def test_reload_swaps_tokens_and_refuses_what_needs_a_restart(tmp_path: Path) -> None:
    access = AccessControl(CONFIG)
    other = new_token()
    access.reload(SecurityConfig(tokens=(TokenEntry("bob", Role.ADMIN, token_digest(other)),)))
    md = [("authorization", f"Bearer {other}")]
    assert access.policy.identify(TCP, {}, md).name == "token:bob"
    with pytest.raises(Refused):
        access.policy.identify(TCP, {}, [("authorization", f"Bearer {TOKEN}")])
    ca = CertificateAuthority(tmp_path)
    server = ca.issue("photond", server=True)
    with pytest.raises(SecurityConfigError, match="adding TLS"):
        access.reload(SecurityConfig(tls=TlsFiles(server.cert_path, server.key_path)))
    with pytest.raises(SecurityConfigError, match="unix_socket_group"):
        access.reload(SecurityConfig(unix_socket_group="root"))
    # The refused reloads kept bob.
    assert access.policy.identify(TCP, {}, md).name == "token:bob"


def test_tls_files_are_checked_and_mutual_tls_cannot_be_switched_by_reload(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    server = ca.issue("photond", server=True)
    other = ca.issue("other", server=True)
    access = AccessControl(SecurityConfig(tls=TlsFiles(server.cert_path, server.key_path)))
    assert access.tls is not None and not access.tls.mutual
    # A key that is not the certificate's is refused, naming the files.
    with pytest.raises(SecurityConfigError, match="not a certificate and its private key"):
        access.reload(SecurityConfig(tls=TlsFiles(server.cert_path, other.key_path)))
    with pytest.raises(SecurityConfigError, match="cannot read"):
        access.reload(SecurityConfig(tls=TlsFiles(tmp_path / "missing.crt", other.key_path)))
    with pytest.raises(SecurityConfigError, match="mutual TLS on or off"):
        access.reload(SecurityConfig(tls=TlsFiles(server.cert_path, server.key_path, ca.cert_path)))
    access.reload(SecurityConfig(tls=TlsFiles(other.cert_path, other.key_path)))
    assert access.tls.files.cert_file == other.cert_path
