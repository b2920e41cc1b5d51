"""Role identifiers, identical to the contracts' ``keccak256("NAME")`` constants."""

from __future__ import annotations

from enum import StrEnum
from functools import cache


class Role(StrEnum):
    CORE_ENTERPRISE = "CORE_ENTERPRISE"
    SUPPLIER = "SUPPLIER"
    FINANCIER = "FINANCIER"
    AUDITOR = "AUDITOR"

    @property
    def id(self) -> bytes:
        return _keccak_of(self.value)

    @classmethod
    def by_id(cls, role_id: bytes) -> Role | None:
        """The role whose id is ``role_id``, if any."""
        return {role.id: role for role in cls}.get(role_id)


# MemberRegistry keeps a member's roles as a bitmask, one bit per role.
ROLE_BITS = {1: Role.CORE_ENTERPRISE, 2: Role.SUPPLIER, 4: Role.FINANCIER, 8: Role.AUDITOR}
BIT_OF_ROLE = {role: bit for bit, role in ROLE_BITS.items()}  # MemberRegistry.roleBit


def role_names(mask: int) -> list[str]:
    """The names of the roles set in MemberRegistry's bitmask ``mask``."""
    return [role.value for bit, role in ROLE_BITS.items() if mask & bit]


@cache
def _keccak_of(name: str) -> bytes:
    # imported here: the command line offers the roles without hashing anything
    from eth_utils.crypto import keccak

    return bytes(keccak(text=name))
