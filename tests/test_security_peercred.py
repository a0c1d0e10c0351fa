"""Peer credentials: the [security.unix_users] / [security.unix_groups] settings, the role they
give a peer, the kernel's answer on a real socket pair, and how check-config and reload treat
them. The daemon end to end is in test_unix_peercred."""

from __future__ import annotations

import grp
import io
import os
import pwd
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from photond.config import load_config
from photond.security.access import AccessControl, Refused, build_policy
from photond.security.peercred import PeerCredentials, peer_role, read_peer_credentials
from photond.security.roles import Role
from photond.security.settings import (
    SecurityConfig,
    SecurityConfigError,
    UnixPeerRole,
    parse_security,
)
from photond.service.check import check_config

OWN = os.geteuid()
NOBODY = pwd.getpwnam("nobody").pw_uid
DAEMON = pwd.getpwnam("daemon").pw_uid
FLOPPY = grp.getgrnam("floppy").gr_gid
TAPE = grp.getgrnam("tape").gr_gid


def config(
    users: dict[str, str] | None = None, groups: dict[str, str] | None = None
) -> SecurityConfig:
    table: dict[str, object] = {}
    if users is not None:
        table["unix_users"] = users
    if groups is not None:
        table["unix_groups"] = groups
    return parse_security(table)


def peer(uid: int, gid: int = 65534, groups: tuple[int, ...] = ()) -> PeerCredentials:
    return PeerCredentials(pid=1, uid=uid, gid=gid, groups=groups)


def test_names_and_numbers_are_read_to_ids() -> None:
    c = config({"daemon": "viewer", "4242": "admin"}, {"floppy": "operator", "99999": "viewer"})
    assert [(e.key, e.id, e.role) for e in c.unix_users] == [
        ("daemon", DAEMON, Role.VIEWER),
        ("4242", 4242, Role.ADMIN),
    ]
    assert [(e.id, e.role) for e in c.unix_groups] == [
        (FLOPPY, Role.OPERATOR),
        (99999, Role.VIEWER),
    ]
    assert c.unix_peers and c.unix_socket_role is None
    assert not SecurityConfig().unix_peers


@pytest.mark.parametrize(
    ("table", "names"),
    [
        ({"unix_users": {"no-such-user-here": "viewer"}}, "security.unix_users.no-such-user-here"),
        ({"unix_groups": {"no-such-group": "viewer"}}, "security.unix_groups.no-such-group"),
        ({"unix_users": {"daemon": "root"}}, "security.unix_users.daemon"),
        ({"unix_users": {"daemon": 3}}, "security.unix_users.daemon"),
        ({"unix_users": ["daemon"]}, "security.unix_users"),
        ({"unix_users": {"daemon": "viewer", str(DAEMON): "admin"}}, "security.unix_users"),
        (
            {"unix_users": {"daemon": "viewer"}, "unix_socket_role": "admin"},
            "security.unix_socket_role",
        ),
    ],
)
def test_bad_lines_name_the_key(table: dict[str, object], names: str) -> None:
    with pytest.raises(SecurityConfigError, match=names):
        parse_security(table)


def test_a_users_line_beats_its_groups_and_groups_give_their_highest_role() -> None:
    c = config({"daemon": "viewer"}, {"floppy": "operator", "tape": "admin"})
    assert peer_role(c, peer(DAEMON, TAPE), OWN) is Role.VIEWER
    assert peer_role(c, peer(NOBODY, FLOPPY), OWN) is Role.OPERATOR  # primary group
    assert peer_role(c, peer(NOBODY, 65534, (FLOPPY,)), OWN) is Role.OPERATOR  # supplementary
    assert peer_role(c, peer(NOBODY, FLOPPY, (TAPE,)), OWN) is Role.ADMIN
    assert peer_role(c, peer(NOBODY), OWN) is None


def test_photonds_own_user_is_admin_unless_its_line_says_otherwise() -> None:
    assert peer_role(config(groups={"floppy": "viewer"}), peer(OWN), OWN) is Role.ADMIN
    lowered = config({str(OWN): "viewer"})
    assert peer_role(lowered, peer(OWN), OWN) is Role.VIEWER


def test_identity_is_the_uid_and_a_peer_without_a_role_is_unauthenticated() -> None:
    policy = build_policy(config({"daemon": "operator"}))
    named = PeerCredentials(1, DAEMON, 1, (), "daemon")
    assert policy.identify("unix-abstract:x", {}, [], named).name == f"uid:{DAEMON}(daemon)"
    assert policy.identify("unix-abstract:x", {}, [], named).role is Role.OPERATOR
    with pytest.raises(Refused, match=r"security\.unix_users") as refused:
        policy.identify("unix-abstract:x", {}, [], peer(NOBODY))
    assert refused.value.unauthenticated
    # With a mapping, a call that did not come through the splicer has no credentials.
    with pytest.raises(Refused, match="did not come through"):
        policy.identify("unix:", {}, [])


def test_the_kernel_reports_the_connecting_process() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        found = read_peer_credentials(a)
    assert (found.pid, found.uid, found.gid) == (os.getpid(), os.geteuid(), os.getegid())
    assert set(found.groups) == set(os.getgroups())


def test_reload_changes_lines_but_not_whether_peers_are_read() -> None:
    access = AccessControl(config({"daemon": "viewer"}))
    access.reload(config({"daemon": "admin"}))
    assert access.config.unix_users[0].role is Role.ADMIN
    with pytest.raises(SecurityConfigError, match="needs a restart"):
        access.reload(SecurityConfig())
    with pytest.raises(SecurityConfigError, match="needs a restart"):
        AccessControl(SecurityConfig()).reload(config({"daemon": "viewer"}))


def test_check_config_prints_the_lines_with_their_ids(tmp_path: Path) -> None:
    path = tmp_path / "photond.toml"
    path.write_text(
        '[security.unix_users]\ndaemon = "viewer"\n[security.unix_groups]\n"4242" = "admin"\n'
    )
    out = io.StringIO()
    assert check_config(lambda: load_config(path, {}, {}), path, {}, {}, out, io.StringIO()) == 0
    text = out.getvalue()
    assert f'[security.unix_users]\n"daemon" = "viewer"  # uid {DAEMON}\n' in text
    assert '[security.unix_groups]\n"4242" = "admin"  # gid 4242\n' in text
    assert "# unix_socket_role: not set" in text


_ids = st.integers(min_value=0, max_value=12)
_lines = st.dictionaries(_ids, st.sampled_from(list(Role)), max_size=5)


@given(users=_lines, groups=_lines, uid=_ids, gid=_ids, some=st.sets(_ids), more=st.sets(_ids))
def test_fewer_groups_never_give_a_higher_role(
    users: dict[int, Role],
    groups: dict[int, Role],
    uid: int,
    gid: int,
    some: set[int],
    more: set[int],
) -> None:
    """What makes judging a caller in more than 256 groups by fewer of them safe."""
    c = SecurityConfig(
        unix_users=tuple(UnixPeerRole(str(k), k, r) for k, r in users.items()),
        unix_groups=tuple(UnixPeerRole(str(k), k, r) for k, r in groups.items()),
    )
    own_uid = 99  # not among the callers'
    fewer = peer_role(c, PeerCredentials(1, uid, gid, tuple(some)), own_uid)
    all_of_them = peer_role(c, PeerCredentials(1, uid, gid, tuple(some | more)), own_uid)
    assert fewer is None or (all_of_them is not None and fewer <= all_of_them)
    if uid in users:  # a user's own line decides, whatever its groups
        assert fewer is all_of_them is users[uid]
