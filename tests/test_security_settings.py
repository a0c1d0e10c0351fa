"""The [security] table: every key checked, with an error naming it."""

from __future__ import annotations

import grp
import os
from pathlib import Path

import pytest

from photond.config import ConfigError, load_config
from photond.security.roles import Role
from photond.security.settings import SecurityConfigError, parse_security
from photond.security.tokens import token_digest

DIGEST = token_digest("pt_example-token-for-tests")


def test_defaults_grant_admin_on_the_socket_and_no_tokens() -> None:
    config = parse_security({})
    assert config.unix_socket_role is Role.ADMIN
    assert config.tokens == () and config.tls is None
    assert config.max_queued_jobs_per_device == 100


def test_tokens_certificates_and_limits_are_read() -> None:
    config = parse_security(
        {
            "unix_socket_role": "none",
            "max_streams_per_identity": 2,
            "tokens": [{"name": "alice", "role": "operator", "sha256": DIGEST.upper()}],
            "certificates": [{"subject": "CN=ci,O=lab", "role": "viewer"}],
        }
    )
    assert config.unix_socket_role is None
    assert config.max_streams_per_identity == 2
    assert config.tokens[0].role is Role.OPERATOR and config.tokens[0].sha256 == DIGEST
    assert config.certificates[0].role is Role.VIEWER


@pytest.mark.parametrize(
    ("table", "names"),
    [
        ({"unix_socket_role": "root"}, "security.unix_socket_role"),
        ({"unknown_key": 1}, "unknown_key"),
        ({"max_queued_jobs_per_device": 0}, "security.max_queued_jobs_per_device"),
        ({"max_streams_per_identity": True}, "security.max_streams_per_identity"),
        ({"tokens": [{"name": "a", "role": "viewer", "sha256": "pt_plain"}]}, "tokens[0].sha256"),
        ({"tokens": [{"name": "a", "role": "boss", "sha256": DIGEST}]}, "tokens[0].role"),
        ({"tokens": [{"name": "a", "role": "viewer"}]}, "missing ['sha256']"),
        (
            {"tokens": [{"name": "a", "role": "viewer", "sha256": DIGEST}] * 2},
            "same name",
        ),
        ({"certificates": [{"subject": "alice", "role": "viewer"}]}, "certificates[0].subject"),
        ({"tls": {"cert_file": "a.crt"}}, "security.tls.key_file"),
        ({"tls": {"cert_file": "a", "key_file": "b", "ca": "c"}}, "security.tls"),
        ({"unix_socket_group": "no-such-group-here"}, "security.unix_socket_group"),
    ],
)
def test_bad_settings_name_the_key(table: dict[str, object], names: str) -> None:
    with pytest.raises(SecurityConfigError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_security(table)


def test_existing_group_is_accepted() -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    assert parse_security({"unix_socket_group": group}).unix_socket_group == group


def test_tls_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = parse_security({"tls": {"cert_file": "s.crt", "key_file": "s.key"}}, tmp_path)
    assert config.tls is not None and config.tls.cert_file == tmp_path / "s.crt"
    assert config.tls.client_ca_file is None


def test_non_loopback_listener_needs_tls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs TLS"):
        load_config(None, {}, {"listen": ("0.0.0.0:7451",)})
    file = tmp_path / "photond.toml"
    file.write_text('listen = ["0.0.0.0:7451"]\n[security.tls]\ncert_file = "a"\nkey_file = "b"\n')
    assert load_config(file, {}, {}).listen == ("0.0.0.0:7451",)


def test_a_bad_security_table_in_the_file_names_file_and_key(tmp_path: Path) -> None:
    file = tmp_path / "photond.toml"
    file.write_text('[security]\nunix_socket_role = "superuser"\n')
    with pytest.raises(ConfigError, match=r"photond.toml: security.unix_socket_role"):
        load_config(file, {}, {})


def test_check_config_prints_the_security_tables(tmp_path: Path) -> None:
    from photond.service.check import render

    file = tmp_path / "photond.toml"
    file.write_text(
        "[security]\nmax_streams_per_identity = 3\n"
        '[security.tls]\ncert_file = "s.crt"\nkey_file = "s.key"\n'
        f'[[security.tokens]]\nname = "alice"\nrole = "operator"\nsha256 = "{DIGEST}"\n'
    )
    text = render(load_config(file, {}, {}), {})
    assert "max_streams_per_identity = 3" in text
    assert "[security.tls]" in text and f'cert_file = "{tmp_path / "s.crt"}"' in text
    assert "[[security.tokens]]" in text and 'role = "operator"' in text
    assert f'sha256 = "{DIGEST}"' in text
