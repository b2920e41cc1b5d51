"""Portal passwords: argon2id (argon2-cffi's defaults, RFC 9106's second choice), with the
parameters inside each hash so that raising them later re-hashes on the next sign-in."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()

# verified when the e-mail names no user, so that a miss costs what a wrong password does
_DUMMY_HASH = _hasher.hash("no such user: this only spends the time a real check takes")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: no such user, checked all the same)."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
