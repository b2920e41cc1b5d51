"""Role identifiers, identical to the contracts' ``keccak256("NAME")`` constants."""

from __future__ import annotations

from enum import StrEnum

from eth_utils.crypto import keccak


class Role(StrEnum):
    CORE_ENTERPRISE = "CORE_ENTERPRISE"
    SUPPLIER = "SUPPLIER"
    FINANCIER = "FINANCIER"
    AUDITOR = "AUDITOR"

    @property
    def id(self) -> bytes:
        return keccak(text=self.value)


ROLE_BY_ID: dict[bytes, Role] = {role.id: role for role in Role}
