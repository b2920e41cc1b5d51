"""The optional second factor: RFC 6238 TOTP (6 digits, 30 s, SHA-1, as authenticator apps
expect) by ``cryptography``'s implementation."""

from __future__ import annotations

import base64
import secrets
import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

STEP_SECONDS = 30
DIGITS = 6


def new_secret() -> str:
    """A random 160-bit secret in base32, as authenticator apps take it."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _totp(secret: str) -> TOTP:
    padded = secret + "=" * (-len(secret) % 8)
    return TOTP(base64.b32decode(padded), DIGITS, SHA1(), STEP_SECONDS, enforce_key_length=False)


def provisioning_uri(secret: str, account: str, issuer: str = "SCF Chain") -> str:
    return _totp(secret).get_provisioning_uri(account, issuer)


def code_at(secret: str, when: float) -> str:
    return _totp(secret).generate(int(when)).decode()


def verify_code(secret: str, code: str, now: float | None = None) -> bool:
    """Whether ``code`` is right now, or one step before or after (clocks drift)."""
    moment = time.time() if now is None else now
    if not (code.isdigit() and len(code) == DIGITS):
        return False
    for drift in (0, -STEP_SECONDS, STEP_SECONDS):
        try:
            _totp(secret).verify(code.encode(), int(moment) + drift)
            return True
        except InvalidToken:
            continue
    return False
