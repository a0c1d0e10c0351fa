"""Bearer tokens: made at random, stored in the config only as their SHA-256.

Why SHA-256 and not a password KDF (scrypt, argon2): a token is 32 random bytes made by
`photond hash-token`, so there is nothing to guess that a slow hash would protect, and a slow
hash would cost every RPC tens of milliseconds of CPU — a way for anyone to load the daemon.
A KDF is for low-entropy secrets people choose; these are not. The config holds the digest,
so a leaked config file does not let anyone call the daemon.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "pt_"
DIGEST_CHARS = 64


def new_token() -> str:
    """A fresh token: 32 random bytes, URL-safe, prefixed so it is recognisable in a leak."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The hex SHA-256 of `token`: what the config stores (`[[security.tokens]] sha256`)."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_digest(text: str) -> bool:
    return len(text) == DIGEST_CHARS and all(c in "0123456789abcdef" for c in text)
