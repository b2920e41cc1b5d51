"""Portal passwords: argon2id (argon2-cffi's defaults, RFC 9106's second choice), with the
parameters inside each hash so that raising them later re-hashes on the next sign-in."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the e-mail names no user, so that a miss costs what a wrong password
    does. Made at the first check, not at import: an argon2id hash is 0.2 s of CPU, and
    every process that loads the API (a node, its read replica, which has no portal) paid
    it at start."""
    return _hasher.hash("no such user: this only spends the time a real check takes")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: no such user, checked all the same)."""
    dummy = _dummy_hash()  # made at the first check of either kind: that tells nothing
    try:
        return _hasher.verify(stored or dummy, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
