"""`photond hash-token`: make a bearer token and the config lines that grant it a role.

The token is printed once, for the person or program that will use it; the config keeps only
its SHA-256 (`tokens.token_digest`). `--token -` hashes a token read from standard input
instead of making one (to move an existing token into the config).
"""

from __future__ import annotations

import argparse
import sys

from photond.security.roles import ROLE_NAMES
from photond.security.tokens import new_token, token_digest


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="photond hash-token",
        description="Make a bearer token and print the [[security.tokens]] entry that grants it "
        "a role. The token is shown once; the config stores only its SHA-256.",
        epilog="example: photond hash-token alice operator >> /etc/photond/photond.toml",
    )
    parser.add_argument("name", help="who the token is for (appears in the audit log)")
    parser.add_argument("role", choices=ROLE_NAMES, help="what the token may do")
    parser.add_argument(
        "--token", help="hash this token instead of making one ('-': read it from stdin)"
    )
    args = parser.parse_args(argv)
    token = args.token
    if token == "-":
        token = sys.stdin.readline().strip()
    if token is not None and len(token) < 16:
        parser.error("--token: at least 16 characters (a made token has 46)")
    token = token or new_token()
    if args.token is None:
        # To stderr: the config lines on stdout can be appended to the file as they are.
        print(f"token (give it to {args.name}; it is not stored): {token}", file=sys.stderr)
    print(
        f'[[security.tokens]]\nname = "{args.name}"\nrole = "{args.role}"\n'
        f'sha256 = "{token_digest(token)}"'
    )
    return 0
