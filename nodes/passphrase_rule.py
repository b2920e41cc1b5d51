"""How strong a new node passphrase must be outside development mode.

One passphrase encrypts every secret of a home (the governor key, the members'
custodial keys, the CA and node keys, see ``nodes.home``): whoever copies the home's
files can try to guess it offline. The rule refuses what is guessed first; a long
phrase of random words, or a password manager's output, passes. It applies to new
passphrases only: an existing home keeps opening with the passphrase it was made with.
"""

from __future__ import annotations

from nodes.home import DEV_PASSPHRASE

MIN_LENGTH = 12
MIN_DISTINCT = 6

RULE = (
    f"a new passphrase needs at least {MIN_LENGTH} characters, at least {MIN_DISTINCT} "
    "different ones, must not repeat one piece (such as abcdefabcdef), and must not be "
    "the development passphrase"
)


def weakness(passphrase: str) -> str | None:
    """Why ``passphrase`` is too weak for a production home, or None when it is not."""
    if passphrase == DEV_PASSPHRASE:
        return "it is the published development passphrase"
    if len(passphrase) < MIN_LENGTH:
        return f"it has {len(passphrase)} characters"
    if len(set(passphrase)) < MIN_DISTINCT:
        return f"it has only {len(set(passphrase))} different characters"
    if _repeats_one_piece(passphrase):
        return "it repeats one piece"
    return None


def _repeats_one_piece(text: str) -> bool:
    """Whether ``text`` is a piece written at least twice over (the last time perhaps cut
    short): ``abcdefabcdef``, ``qwerty1qwerty1qw``."""
    return any(
        all(text[i] == text[i - size] for i in range(size, len(text)))
        for size in range(1, len(text) // 2 + 1)
    )
