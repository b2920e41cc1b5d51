"""Custodial signing keys: each member account's key in an encrypted keystore on the node.

The node signs with the member's own account, so on-chain permissioning applies to
members, not to one relayer. Keystores use eth-account's scrypt + AES format; a
decrypted key stays in memory for the life of the process (scrypt is slow on purpose).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from eth_account import Account
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from api.readmodel.models import MemberAccountRow
from chain.accounts import Signer
from chain.errors import ScfError

# every write signs: the statement is built once, its parameter bound per call
_ACCOUNTS_OF = (
    select(MemberAccountRow.address)
    .where(MemberAccountRow.member_id == bindparam("member_id"))
    .order_by(MemberAccountRow.address)
)


class NoCustodialKey(ScfError):
    code = "no_custodial_key"
    http_status = 409


class Custody:
    """``kdf_iterations``: scrypt's work factor for keystores written here (None:
    eth-account's default, for every real node). Reading follows what each keystore
    says. Tests that set up many members pass a small figure: each default keystore
    costs seconds of CPU to write and again to open."""

    def __init__(
        self, directory: Path, passphrase: str, *, kdf_iterations: int | None = None
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._passphrase = passphrase
        self._kdf_iterations = kdf_iterations
        self._signers: dict[str, Signer] = {}
        self._lock = threading.Lock()

    def _path(self, address: str) -> Path:
        return self._directory / f"{address.lower()}.json"

    def create_account(self) -> Signer:
        """A new key, durably written encrypted before anyone can use its address."""
        signer = Signer.create()
        self.store(signer)
        return signer

    def store(self, signer: Signer) -> None:
        keystore = Account.encrypt(signer.key, self._passphrase, iterations=self._kdf_iterations)
        path = self._path(signer.address)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(keystore, out)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o600)
        tmp.replace(path)
        with self._lock:
            self._signers[signer.address.lower()] = signer

    def signer(self, address: str) -> Signer | None:
        with self._lock:
            cached = self._signers.get(address.lower())
        if cached is not None:
            return cached
        path = self._path(address)
        if not path.exists():
            return None
        signer = Signer.from_key(
            Account.decrypt(json.loads(path.read_text("utf-8")), self._passphrase)
        )
        with self._lock:
            self._signers[address.lower()] = signer
        return signer

    def signer_for_member(self, session: Session, member_id: int) -> Signer:
        """The first of the member's bound accounts whose key this node holds."""
        addresses = session.scalars(_ACCOUNTS_OF, {"member_id": member_id}).all()
        for address in addresses:
            signer = self.signer(address)
            if signer is not None:
                return signer
        raise NoCustodialKey(
            f"this node holds no signing key of member {member_id}",
            details={"member_id": member_id},
        )
