"""photonctl's options for who it is: a bearer token and TLS (flags, or PHOTON_* variables).

A token given on the command line is visible to other users in the process list: prefer
``PHOTON_TOKEN`` or ``--token-file``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from ._credentials import Tls


def add_credential_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("identity and TLS (see docs/security.md)")
    group.add_argument(
        "--token", help="bearer token (default: $PHOTON_TOKEN; --token-file keeps it off ps)"
    )
    group.add_argument(
        "--token-file", metavar="FILE", help="read the bearer token from FILE ($PHOTON_TOKEN_FILE)"
    )
    group.add_argument(
        "--tls",
        action="store_true",
        help="connect with TLS, trusting the system's CAs (implied by --tls-ca or --tls-cert)",
    )
    group.add_argument(
        "--tls-ca", metavar="FILE", help="PEM of the CA that signed photond's cert ($PHOTON_TLS_CA)"
    )
    group.add_argument(
        "--tls-cert", metavar="FILE", help="client certificate for mutual TLS ($PHOTON_TLS_CERT)"
    )
    group.add_argument("--tls-key", metavar="FILE", help="its private key ($PHOTON_TLS_KEY)")
    group.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="name to check photond's certificate against, if not the target's host",
    )


def client_credentials(
    parser: argparse.ArgumentParser, args: argparse.Namespace, env: Mapping[str, str] = os.environ
) -> tuple[str | None, Tls | None]:
    """The token and TLS settings from flags, else the environment; usage errors exit 2."""
    token = args.token or env.get("PHOTON_TOKEN") or None
    token_file = args.token_file or env.get("PHOTON_TOKEN_FILE")
    if token_file and not args.token:
        try:
            with open(token_file) as f:
                token = f.read().strip()
        except OSError as exc:
            parser.error(f"--token-file: cannot read {token_file}: {exc.strerror}")
    if token is not None and (not token or any(c.isspace() for c in token)):
        parser.error("--token: a token has no spaces")
    ca = args.tls_ca or env.get("PHOTON_TLS_CA")
    cert = args.tls_cert or env.get("PHOTON_TLS_CERT")
    key = args.tls_key or env.get("PHOTON_TLS_KEY")
    if (cert is None) != (key is None):
        parser.error("--tls-cert and --tls-key go together")
    if not (args.tls or ca or cert or args.tls_server_name):
        return token, None
    for name, path in (("--tls-ca", ca), ("--tls-cert", cert), ("--tls-key", key)):
        if path is not None and not os.path.isfile(path):
            parser.error(f"{name}: no file {path}")
    return token, Tls(
        root_certs=ca, client_cert=cert, client_key=key, server_name=args.tls_server_name
    )
